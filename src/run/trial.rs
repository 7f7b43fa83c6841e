//! One test as a libtest trial, in phases: plan (timeout, budget), measure
//! (its own runtime process), hold it to its baseline's runtime, judge each
//! block (`verdict`), explain growth (a tracked re-run), and record: the
//! test's entry in the run model and what it proposes for its baseline.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libtest_mimic::{Failed, Trial};

use crate::baseline::{self, Recording, TestBaseline, UpdateMode};
use crate::budget::Budget;
use crate::config::{Config, Isolation};
use crate::explain::AllocationSite;
use crate::measure::{self, Fault, TestRef, TestRun};
use crate::project::Package;
use crate::report::{self, BlockReport, Status, TestReport};
use crate::runtime::{Engine, Launch, ListedTest, RuntimeInfo};
use crate::text;
use crate::timings::Timings;
use crate::verdict::{self, Standard, Verdict};

use super::Options;
use super::ahead::{Ahead, Listed};
use super::files::FileState;

/// What every trial reads (each file's launch is in its state).
pub struct Context {
    pub config: Config,
    pub opts: Options,
    /// The full names of the tests chosen to run, once selected.
    pub chosen: std::sync::OnceLock<std::collections::HashSet<String>>,
    /// The tests in the order they run, with processes started ahead.
    pub ahead: std::sync::OnceLock<Ahead>,
    pub shared: Mutex<Shared>,
}

/// A test's record: file (after its engine prefix), test name and line
/// (two tests may share a name).
pub type RecordKey = (String, String, Option<u32>);

/// What the trials report back.
#[derive(Default)]
pub struct Shared {
    pub records: BTreeMap<RecordKey, TestReport>,
    /// What each test proposes for its baseline, per file, per test.
    pub recordings: BTreeMap<String, BTreeMap<String, Recording>>,
    pub notes: Vec<String>,
    /// Every runtime seen, in order.
    pub runtimes: Vec<RuntimeInfo>,
}

impl Shared {
    pub fn saw_runtime(&mut self, info: &RuntimeInfo) {
        if !self.runtimes.contains(info) {
            self.runtimes.push(info.clone());
        }
    }
}

/// A test to run: its name as libtest shows and filters it, whether it is
/// ignored, and the work. A run makes libtest trials of them (`build`);
/// `watch` runs them itself, with no libtest output, and can stop between
/// them.
pub struct Job {
    pub name: String,
    pub ignored: bool,
    /// The listed test it runs (its file, its place in the file's list):
    /// `None` for a job that fails without running anything.
    pub test: Option<Listed>,
    pub work: Box<dyn FnOnce() -> Result<(), Failed> + Send>,
}

impl Job {
    fn new(
        name: String,
        ignored: bool,
        work: impl FnOnce() -> Result<(), Failed> + Send + 'static,
    ) -> Job {
        Job {
            name,
            ignored,
            test: None,
            work: Box::new(work),
        }
    }

    pub fn into_trial(self) -> Trial {
        let work = self.work;
        Trial::test(self.name, work).with_ignored_flag(self.ignored)
    }
}

/// One job per listed test; a file that cannot be listed, or a second
/// test with a name already used, is a job that fails at once.
pub fn jobs(states: &[Arc<FileState>], ctx: &Arc<Context>) -> Vec<Job> {
    let mut trials = Vec::new();
    for state in states {
        let tests = match &state.tests {
            Ok(t) => t.clone(),
            Err(fault) => {
                let message = explain_fault(fault, state, &state.launch);
                let test = ListedTest {
                    name: "(load)".to_owned(),
                    ..listed_placeholder()
                };
                let full = state.shown_key();
                trials.push(failing_trial(ctx, state, test, full, message));
                continue;
            }
        };
        let mut seen: BTreeMap<String, Option<u32>> = BTreeMap::new();
        for (index, test) in tests.into_iter().enumerate() {
            let full = state.full_name(&test.name);
            if let Some(first) = seen.get(&test.name) {
                let message = duplicate_name(&state.file.relative, &test, *first);
                trials.push(failing_trial(ctx, state, test, full, message));
                continue;
            }
            seen.insert(test.name.clone(), test.line);
            let (state, ctx) = (state.clone(), ctx.clone());
            let ignore = test.ignore;
            let listed = Some((state.clone(), index));
            let job = Job::new(full, ignore, move || run_trial(&ctx, &state, index, &test));
            trials.push(Job {
                test: listed,
                ..job
            });
        }
    }
    trials
}

/// Records a test's outcome in the run model as it ends.
struct Recorder<'a> {
    ctx: &'a Context,
    state: &'a FileState,
    test: &'a ListedTest,
    started: Instant,
    runtime: Option<RuntimeInfo>,
    output: String,
    timings: Option<Timings>,
}

impl Recorder<'_> {
    fn pass(&self, blocks: Vec<BlockReport>) -> Result<(), Failed> {
        self.record(Status::Passed, None, blocks);
        Ok(())
    }

    /// Fail with `message`, whose control characters (in what the test
    /// printed or threw) are written out for the model and every report;
    /// on the terminal, coloured, and disarmed under GitHub.
    fn fail(&self, blocks: Vec<BlockReport>, message: String) -> Result<(), Failed> {
        let message = text::escape_text(&message);
        let opts = &self.ctx.opts;
        let shown = report::terminal::failure(&message, opts.color, opts.github);
        self.record(Status::Failed, Some(message), blocks);
        Err(shown.into())
    }

    fn record(&self, status: Status, message: Option<String>, blocks: Vec<BlockReport>) {
        let key = (self.state.key(), self.test.name.clone(), self.test.line);
        let report = TestReport {
            file: self.state.file.relative.clone(),
            engine: self.state.launch.engine.name(),
            prefix: self.state.prefix.clone(),
            timings: self.timings,
            name: self.test.name.clone(),
            line: self.test.line,
            runtime: self.runtime.clone(),
            status,
            message,
            output: self.output.clone(),
            duration: Some(self.started.elapsed()),
            blocks: report::with_runs(blocks),
        };
        self.ctx.shared.lock().unwrap().records.insert(key, report);
    }
}

/// What a test is run with, from its declaration and the settings.
struct Plan {
    timeout: Duration,
    budget: Option<Budget>,
}

fn run_trial(
    ctx: &Context,
    state: &FileState,
    index: usize,
    test: &ListedTest,
) -> Result<(), Failed> {
    let file = &state.file.relative;
    // Take the file's listing process first: the spares are started for
    // the tests that will have none.
    let parked = match ctx.config.runtime.isolation {
        Isolation::Test => state.take_parked(test.allocated),
        Isolation::File => None,
    };
    let spare = ctx.ahead.get().and_then(|a| a.starting(state, index));
    let mut rec = Recorder {
        ctx,
        state,
        test,
        started: Instant::now(),
        runtime: None,
        output: String::new(),
        timings: None,
    };
    let plan = match plan(ctx, file, test) {
        Ok(p) => p,
        Err(m) => return rec.fail(Vec::new(), m),
    };
    let full = state.full_name(&test.name);
    let launch = if test.allocated {
        state.launch.with_inspector()
    } else {
        state.launch.clone()
    };
    let test_ref = TestRef {
        file: &state.file.path,
        index,
        name: &test.name,
        full_name: &full,
    };
    let keep = keep_dir(ctx, file, &test.name);
    let batched = (ctx.config.runtime.isolation == Isolation::File && !test.allocated)
        .then(|| from_batch(ctx, state, index))
        .flatten();
    let run = match batched {
        Some(run) => Ok(run),
        None => {
            let parked = parked
                .or_else(|| state.take_parked(test.allocated))
                .or_else(|| spare.and_then(measure::Spare::take));
            measure_test(ctx, &launch, test_ref, test, (plan.timeout, keep), parked)
        }
    };
    let run = match run {
        Ok(r) => r,
        Err(e) => return rec.fail(Vec::new(), e),
    };
    rec.runtime = run.runtime.clone();
    rec.output = run.output.clone();
    rec.timings = Some(run.timings);
    let blocks: Vec<BlockReport> = run.blocks.iter().map(BlockReport::new).collect();
    if let Some(fault) = &run.fault {
        let mut m = explain_fault(fault, state, &launch);
        // A crash's message already ends with the output's tail.
        if !matches!(fault, Fault::Crashed { .. }) {
            m.push_str(&output_section(&run.output));
        }
        return rec.fail(blocks, m);
    }
    let judging = Instant::now();
    let judged = Judged::new(ctx, state, test, &run, &plan);
    let judged = match judged {
        Ok(j) => j,
        Err(m) => return rec.fail(blocks, m),
    };
    let judge = judging.elapsed();
    let explaining = Instant::now();
    let sites = explain_growth(&launch, test_ref, plan.timeout, &run, &judged.verdicts);
    if let Some(t) = &mut rec.timings {
        t.judge = judge;
        t.explain = explaining.elapsed();
        t.total += t.judge + t.explain;
    }
    judged.finish(&rec, &run, blocks, &sites)
}

/// With `isolation = "file"`: this test's run from its file's batch (the
/// first test of the file to get here runs them all), or `None` when the
/// batch did not get to it or it must run whole on its own.
fn from_batch(ctx: &Context, state: &FileState, index: usize) -> Option<TestRun> {
    let mut batch = state.batch.lock().unwrap_or_else(|e| e.into_inner());
    let runs = batch.get_or_insert_with(|| run_batch(ctx, state));
    let mut run = runs.remove(&index).filter(|r| !r.needs_whole)?;
    if let Some(info) = &run.runtime {
        ctx.shared.lock().unwrap().saw_runtime(info);
    }
    let test = state.tests.as_ref().ok()?.get(index)?;
    for b in &mut run.blocks {
        if b.line.is_none() && b.name == test.name {
            b.line = test.line;
        }
    }
    Some(run)
}

/// Run the file's chosen tests in one process.
fn run_batch(ctx: &Context, state: &FileState) -> BTreeMap<usize, TestRun> {
    let Ok(tests) = &state.tests else {
        return BTreeMap::new();
    };
    let file = &state.file.relative;
    let chosen = ctx.chosen.get();
    let fulls: Vec<String> = tests.iter().map(|t| state.full_name(&t.name)).collect();
    let mut picked = Vec::new();
    for (index, test) in tests.iter().enumerate() {
        let wanted = chosen.is_none_or(|c| c.contains(&fulls[index])) && !test.ignore;
        if !wanted || test.allocated {
            continue;
        }
        let Ok(plan) = plan(ctx, file, test) else {
            continue;
        };
        picked.push(measure::Batched {
            test: TestRef {
                file: &state.file.path,
                index,
                name: &test.name,
                full_name: &fulls[index],
            },
            timeout: plan.timeout,
            keep: keep_dir(ctx, file, &test.name),
        });
    }
    let label = format!("{} ({} tests, one process)", state.key(), picked.len());
    let parked = state.take_parked(false);
    let mut runs = measure::run_file(&state.launch, &label, &picked, parked).unwrap_or_default();
    charge_late_errors(ctx, state, &picked, &mut runs);
    picked
        .iter()
        .zip(runs)
        .filter_map(|(b, r)| Some((b.test.index, r?)))
        .collect()
}

/// In a shared process, an error that surfaced outside a test's own
/// promise chain (a late rejection, a timer that threw) may be an earlier
/// test's. The test it surfaced in runs again on its own: if it passes
/// there, the error is charged to the nearest earlier test that returned
/// with work still pending, and the test keeps its own run; if it fails
/// there too, the error was its own.
fn charge_late_errors(
    ctx: &Context,
    state: &FileState,
    picked: &[measure::Batched],
    runs: &mut [Option<TestRun>],
) {
    let Ok(tests) = &state.tests else { return };
    for i in 0..runs.len().min(picked.len()) {
        let Some(Fault::Threw { message, stack }) = runs[i]
            .as_ref()
            .filter(|r| r.stray)
            .and_then(|r| r.fault.clone())
        else {
            continue;
        };
        let b = &picked[i];
        let test = &tests[b.test.index];
        let Ok(alone) = measure_test(
            ctx,
            &state.launch,
            b.test,
            test,
            (b.timeout, b.keep.clone()),
            None,
        ) else {
            runs[i] = None;
            continue;
        };
        if alone.fault.is_none() {
            let late = format!(
                "{message}, after this test had ended (it surfaced while {} ran in the same process, which passes on its own): the test returned with a timer or handle still active; clear it, or await what it does, before the test returns",
                text::quote_name(b.test.name)
            );
            let culprit = (0..i).rev().find(|&j| {
                runs[j]
                    .as_ref()
                    .is_some_and(|r| r.left_pending && r.fault.is_none())
            });
            match culprit.and_then(|j| runs[j].as_mut()) {
                Some(earlier) => {
                    earlier.fault = Some(Fault::Threw {
                        message: late,
                        stack: stack.clone(),
                    })
                }
                None => ctx.shared.lock().unwrap().notes.push(format!(
                    "memcheck: warning: {} surfaced while {} ran in a shared process (isolation = \"file\"); it passes on its own and no earlier test left a timer or handle active, so no test was charged",
                    text::escape_controls(&message),
                    state.full_name(b.test.name)
                )),
            }
        }
        runs[i] = Some(alone);
    }
}

/// Where a test's snapshots go with `--snapshots`.
fn keep_dir(ctx: &Context, file: &str, test: &str) -> Option<std::path::PathBuf> {
    ctx.opts.snapshots.as_ref().map(|d| {
        d.join(measure::sanitize(file))
            .join(measure::sanitize(test))
    })
}

/// Run the test in the process that listed its file, when that is
/// `parked` and still there, or else in its own (keeping its snapshots when
/// asked); whole-body blocks get their test's line.
fn measure_test(
    ctx: &Context,
    launch: &Launch,
    test_ref: TestRef,
    test: &ListedTest,
    (timeout, keep): (Duration, Option<std::path::PathBuf>),
    parked: Option<measure::Parked>,
) -> Result<TestRun, String> {
    let keep = keep.as_deref();
    let run = parked
        .and_then(|p| measure::run_parked(p, launch, test_ref, timeout, keep))
        .unwrap_or_else(|| measure::run_test(launch, test_ref, timeout, keep));
    let mut run = run.map_err(|e| e.to_string())?;
    if let Some(info) = &run.runtime {
        ctx.shared.lock().unwrap().saw_runtime(info);
    }
    for b in &mut run.blocks {
        if b.line.is_none() && b.name == test.name {
            b.line = test.line;
        }
    }
    Ok(run)
}

/// The test's timeout and budget, or why they are invalid.
fn plan(ctx: &Context, file: &str, test: &ListedTest) -> Result<Plan, String> {
    let settings = ctx.config.test(file, &test.name);
    if let Some(why) = &test.invalid {
        return Err(format!("{}: {why}", place(file, test)));
    }
    let timeout = match &test.timeout {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => match v.as_u64().filter(|&ms| ms > 0) {
            Some(ms) => Some(Duration::from_millis(ms)),
            None => {
                return Err(format!(
                    "{}: invalid timeout {v}: write milliseconds as a whole number, e.g. {{ timeout: 5000 }}",
                    place(file, test)
                ));
            }
        },
    };
    let budget = test
        .budget
        .as_ref()
        .map(Budget::from_json)
        .transpose()
        .map_err(|e| format!("{}: {e}", place(file, test)))?;
    Ok(Plan {
        timeout: timeout
            .or(settings.timeout)
            .unwrap_or(ctx.config.runtime.timeout),
        budget,
    })
}

/// A test's blocks judged against budget and baseline.
struct Judged<'a> {
    ctx: &'a Context,
    state: &'a FileState,
    full: String,
    recorded: Option<&'a TestBaseline>,
    /// Figures are recorded, not compared (`--update`, or `--update=new`
    /// for a test with no baseline).
    record_now: bool,
    verdicts: Vec<Verdict>,
}

impl<'a> Judged<'a> {
    fn new(
        ctx: &'a Context,
        state: &'a FileState,
        test: &ListedTest,
        run: &TestRun,
        plan: &Plan,
    ) -> Result<Judged<'a>, String> {
        let full = state.full_name(&test.name);
        let baseline_file = state.baseline.as_ref().ok().and_then(Option::as_ref);
        let recorded = baseline_file.and_then(|b| b.tests.get(&test.name));
        let record_now = match ctx.opts.update {
            Some(UpdateMode::All) => true,
            Some(UpdateMode::New) => recorded.is_none(),
            None => false,
        };
        if !record_now {
            comparable(state, run)?;
        }
        if let (Ok(Some(b)), Some(runtime)) = (&state.baseline, &run.runtime)
            && let Some(drift) = b.browser_drift(runtime)
        {
            let note = format!(
                "memcheck: warning: {}: {drift}",
                text::display_path(&state.baseline_path)
            );
            let mut shared = ctx.shared.lock().unwrap();
            if !shared.notes.contains(&note) {
                shared.notes.push(note);
            }
        }
        let settings = ctx.config.test(&state.file.relative, &test.name);
        let tolerance = settings.tolerance.unwrap_or(ctx.config.tolerance);
        let judge_all = |recordable: bool| -> Vec<Verdict> {
            let judge = |block: &crate::measure::Block| {
                let standard = Standard {
                    full_name: &full,
                    baseline_path: &state.baseline_path,
                    recorded: recorded.and_then(|t| t.get(&block.name)),
                    test_budget: plan.budget.as_ref(),
                    tolerance,
                    update: record_now,
                    recordable,
                };
                verdict::judge(block, &standard)
            };
            run.blocks.iter().map(judge).collect()
        };
        let mut verdicts = judge_all(true);
        // A block over its budget or leaking keeps the whole test from being
        // recorded: the others then offer no command that would not work.
        if verdicts.iter().any(|v| v.record.is_none()) {
            verdicts = judge_all(false);
        }
        Ok(Judged {
            ctx,
            state,
            full,
            recorded,
            record_now,
            verdicts,
        })
    }

    /// Record the outcome: the model's blocks, the failure text, notes,
    /// and what the test proposes for its baseline.
    fn finish(
        self,
        rec: &Recorder,
        run: &TestRun,
        mut blocks: Vec<BlockReport>,
        sites: &BTreeMap<String, Vec<AllocationSite>>,
    ) -> Result<(), Failed> {
        let mut failures = String::new();
        for ((block, v), report) in run.blocks.iter().zip(&self.verdicts).zip(&mut blocks) {
            report.baseline = self.recorded.and_then(|t| t.get(&block.name)).cloned();
            report.budget = v.budget.clone();
            report.allocations = sites.get(&block.name).cloned().unwrap_or_default();
            if v.failed() {
                let text = verdict::render(block, v, &report.allocations);
                failures.push_str(&text);
                report.failures = v.reasons.clone();
                report.failure_text = Some(text);
            }
        }
        self.missing_blocks(run, &mut failures);
        let proposal = self.proposal(run, !failures.is_empty());
        self.notes(run, proposal.as_ref());
        if let Some(Recording::Pending(_)) = &proposal
            && !failures.is_empty()
        {
            failures.push_str(&self.pending_lines());
        }
        if !self.recordable() && !self.record_now && !self.ctx.opts.ci {
            let _ = writeln!(failures, "no pending baseline: {}", verdict::NOT_RECORDABLE);
        }
        if let Some(p) = proposal {
            let mut shared = self.ctx.shared.lock().unwrap();
            let per_file = shared.recordings.entry(self.state.key());
            per_file.or_default().insert(rec.test.name.clone(), p);
        }
        if failures.is_empty() {
            rec.pass(blocks)
        } else {
            let message = failures.trim_end().to_owned() + &output_section(&run.output);
            rec.fail(blocks, message)
        }
    }

    /// None of the test's blocks is over a budget or leaking.
    fn recordable(&self) -> bool {
        self.verdicts.iter().all(|v| v.record.is_some())
    }

    /// Blocks in the baseline that did not run.
    fn missing_blocks(&self, run: &TestRun, failures: &mut String) {
        let Some(t) = self.recorded.filter(|_| !self.record_now) else {
            return;
        };
        for name in t
            .keys()
            .filter(|n| !run.blocks.iter().any(|b| &&b.name == n))
        {
            let remove = if self.recordable() {
                format!("remove it with: {}", report::update_command(&self.full))
            } else {
                format!("({})", verdict::NOT_RECORDABLE)
            };
            let _ = writeln!(
                failures,
                "block or step {name:?} is in the baseline but did not run; {remove}"
            );
        }
    }

    /// What the test proposes for its baseline: written now (`--update`,
    /// unless over budget), pending for review (outside CI, when the
    /// figures differ), or nothing pending any more. `None` in CI.
    fn proposal(&self, run: &TestRun, failed: bool) -> Option<Recording> {
        let staged: Option<TestBaseline> = run
            .blocks
            .iter()
            .zip(&self.verdicts)
            .map(|(b, v)| v.record.clone().map(|r| (b.name.clone(), r)))
            .collect();
        if self.record_now {
            return (!failed).then(|| Recording::Write(staged.unwrap_or_default()));
        }
        if self.ctx.opts.ci {
            return None;
        }
        match staged {
            Some(s) if self.recorded != Some(&s) => Some(Recording::Pending(s)),
            _ => Some(Recording::Clear),
        }
    }

    /// Notes for figures that improved, with the command that locks them in.
    fn notes(&self, run: &TestRun, proposal: Option<&Recording>) {
        let lock_in = match proposal {
            Some(Recording::Pending(_)) => report::accept_command(&self.full),
            _ => report::update_command(&self.full),
        };
        let mut shared = self.ctx.shared.lock().unwrap();
        for (block, v) in run.blocks.iter().zip(&self.verdicts) {
            if let Some(better) = &v.improvement {
                shared.notes.push(format!(
                    "note: {} / {}: improved ({better}); lock it in: {lock_in}",
                    self.full,
                    text::escape_controls(&block.name)
                ));
            }
        }
    }

    /// Where the pending baseline goes, and the commands that settle it.
    fn pending_lines(&self) -> String {
        if self.ctx.opts.held {
            return "proposed baseline: this run's figures (nothing is written until you accept them on the page)\n".to_owned();
        }
        let path = baseline::pending::path_for(&self.state.baseline_path);
        if let Err(why) = baseline::writable(&path) {
            return format!("no pending baseline: {why}\n");
        }
        format!(
            "pending baseline: {} (the committed baseline is unchanged)\n  review it: cargo memcheck review\n  accept it: {}\n",
            text::display_path(&path),
            report::accept_command(&self.full)
        )
    }
}

/// A baseline that cannot be read, or that was recorded with another
/// runtime, fails every test of its file that would be compared with it.
fn comparable(state: &FileState, run: &TestRun) -> Result<(), String> {
    let b = match &state.baseline {
        Ok(Some(b)) => b,
        Ok(None) => return Ok(()),
        Err(e) => return Err(e.clone()),
    };
    let runtime = run.runtime.clone().unwrap_or_default();
    if b.matches_runtime(&runtime) {
        return Ok(());
    }
    Err(format!(
        "baseline {} was recorded with {}, but this run uses {} (V8 {}); figures are not comparable across runtimes.\nre-record the file's baselines: {}",
        text::display_path(&state.baseline_path),
        b.recorded_with(),
        baseline::runtime_label(&runtime),
        runtime.v8,
        state.rerecord
    ))
}

/// Allocation sites per block: this run's, or, when a block failed for
/// growth and this run did not track allocations, a tracked re-run's.
fn explain_growth(
    launch: &Launch,
    test_ref: TestRef,
    timeout: Duration,
    run: &TestRun,
    verdicts: &[Verdict],
) -> BTreeMap<String, Vec<AllocationSite>> {
    let mut sites: BTreeMap<String, Vec<AllocationSite>> = run
        .blocks
        .iter()
        .map(|b| (b.name.clone(), b.allocations.clone()))
        .collect();
    if !launch.trace
        && (launch.sites_always || verdicts.iter().any(|v| v.failed() && v.grew))
        && let Ok(rerun) = measure::run_test(&launch.traced(), test_ref, timeout * 4, None)
    {
        for b in rerun.blocks {
            sites.insert(b.name.clone(), b.allocations);
        }
    }
    sites
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
/// cannot be listed, a duplicate test name).
fn failing_trial(
    ctx: &Arc<Context>,
    state: &Arc<FileState>,
    test: ListedTest,
    full: String,
    message: String,
) -> Job {
    let (ctx, state) = (ctx.clone(), state.clone());
    Job::new(full, false, move || {
        let rec = Recorder {
            ctx: &ctx,
            state: &state,
            test: &test,
            started: Instant::now(),
            runtime: None,
            output: String::new(),
            timings: None,
        };
        rec.fail(Vec::new(), message.clone())
    })
}

/// A listed test with no settings, for trials that stand for a whole file.
fn listed_placeholder() -> ListedTest {
    serde_json::from_value(serde_json::json!({ "name": "" }))
        .expect("a test with only a name is a valid listing")
}

/// A second `test(...)` with a name the file already used: baselines and
/// filters are keyed by name, so it cannot run.
fn duplicate_name(file: &str, test: &ListedTest, first: Option<u32>) -> String {
    let first = first.map(|l| format!(" at line {l}")).unwrap_or_default();
    format!(
        "{}: test name {} is already used{first} in this file; rename one of them (baselines and filters are keyed by name)",
        place(file, test),
        text::quote_name(&test.name)
    )
}

/// A fault as a failure message, led by what to do about it when it comes
/// from the sandbox (what to grant) or the project (what to install).
fn explain_fault(fault: &Fault, state: &FileState, launch: &Launch) -> String {
    let message = launch
        .host
        .reword(&report::fault(fault, &state.file.relative));
    // A runtime that loses a line break or tab of the file's name on the
    // way to the module's URL reports the file missing: say why.
    if let Fault::Load { message: why, .. } = fault
        && why.contains("Module not found")
        && state.file.relative.contains(['\n', '\r', '\t'])
    {
        return format!(
            "{} cannot be loaded: {} loses the newline, tab or carriage return in its name on the way to the module's URL; rename the file\n{message}",
            text::escape_controls(&state.file.relative),
            launch.engine.title()
        );
    }
    let package = Package::of(&state.file.path, &launch.sandbox.root);
    let explain = |text: &str| {
        package
            .explain_unresolved(text)
            .or_else(|| launch.host.explain(text, &launch.sandbox, &package.dir))
    };
    let denied = match fault {
        Fault::Load { message, stack } | Fault::Threw { message, stack } => {
            explain(message).or_else(|| explain(stack))
        }
        Fault::Crashed { output, .. } => explain(output),
        _ => None,
    };
    match denied {
        Some(why) => format!("{why}{}\n{message}", deno_to_install_with(&why, launch)),
        None => message,
    }
}

/// Advice to run `deno install` or `deno add` on a machine with no `deno`
/// on PATH names the Deno memcheck installed.
fn deno_to_install_with(why: &str, launch: &Launch) -> String {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("deno").is_file()));
    if on_path || launch.engine != Engine::Deno || !why.contains("`deno ") {
        return String::new();
    }
    format!(
        " (no `deno` on PATH; memcheck's own is {})",
        text::shell_quote(&launch.binary.to_string_lossy())
    )
}

/// `file:line` of a test's declaration, for messages.
fn place(file: &str, test: &ListedTest) -> String {
    let line = test.line.map(|l| format!(":{l}")).unwrap_or_default();
    format!("{}{line}", text::escape_controls(file))
}
