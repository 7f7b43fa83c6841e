//! The run model: everything one run found, built once and rendered by
//! every reporter (terminal, `--json`, `--html`, `--junit`, GitHub,
//! `--markdown`). Each test carries its file, line, runtime, status, full
//! failure text, output and time; each block its figures, explanations,
//! recorded baseline, budget and verdict; the run what happened to baseline
//! files. Serialized as it is, it is the `--json` report:
//! `{ runtime, runtimes, tests: [ { file, name, status, message, blocks: [ … ] } ], baselines }`.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::baseline::BlockBaseline;
use crate::diff::{Comparison, ConstructorDelta};
use crate::explain::{AllocationSite, GrownObject, RetainerPath};
use crate::measure::Block;
use crate::repeat::Repetition;
use crate::runtime::RuntimeInfo;
use crate::steps::BlockKind;

#[derive(Debug, Serialize, Default, Clone)]
pub struct RunReport {
    /// The runtime of the first test that ran (see `runtimes`).
    pub runtime: RuntimeInfo,
    /// Every runtime that ran a test, in the order first seen.
    pub runtimes: Vec<RuntimeInfo>,
    pub tests: Vec<TestReport>,
    /// What the run did to baseline files.
    pub baselines: BaselineActivity,
    /// Notes for the terminal (figures that improved).
    #[serde(skip)]
    pub notes: Vec<String>,
}

/// A test's outcome.
#[derive(Debug, Serialize, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Passed,
    Failed,
    Ignored,
}

#[derive(Debug, Serialize, Clone, Default)]
pub struct TestReport {
    pub file: String,
    /// `deno` or `node`.
    pub engine: &'static str,
    /// `engine:` when the run has several engines, as libtest names show it.
    #[serde(skip)]
    pub prefix: String,
    pub name: String,
    /// The line of the `test(...)` call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// The runtime that ran it (none when it did not run or did not start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<RuntimeInfo>,
    pub status: Status,
    /// The whole failure text, as the terminal shows it.
    pub message: Option<String>,
    /// What the test printed (stdout and stderr, in order, capped).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub output: String,
    /// How long the test took, re-runs that explain a failure included.
    #[serde(
        rename = "duration_ms",
        serialize_with = "millis",
        skip_serializing_if = "Option::is_none"
    )]
    pub duration: Option<Duration>,
    pub blocks: Vec<BlockReport>,
    /// Where the test's time went (milliseconds per phase).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timings: Option<crate::timings::Timings>,
}

/// A block, a step or a run: what one Comparison found, in the order the
/// test closed them (a `repeat` block's runs follow it).
#[derive(Debug, Serialize, Clone, Default)]
pub struct BlockReport {
    pub name: String,
    /// `block` (a `t.measure` block, or a test's whole body), `step` (from
    /// one `t.checkpoint` to the next) or `run` (one run of a `repeat`
    /// block, against the run before; not judged, not in the baseline).
    pub kind: BlockKind,
    /// The `repeat` block a run belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_of: Option<String>,
    /// The checkpoint a step starts from (the one before it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The line of that checkpoint in the test file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_line: Option<u32>,
    /// The line of the test file where the block is (its `t.measure` call;
    /// the test's line for a whole-body block; for a step, the
    /// `t.checkpoint` call that closes it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    pub retained_bytes: u64,
    pub retained_objects: u64,
    pub freed_bytes: u64,
    pub freed_objects: u64,
    /// Bytes allocated during the block, garbage included (tests that ask).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocated_bytes: Option<u64>,
    pub constructors: Vec<ConstructorDelta>,
    /// How the new objects of the top growing classes are kept alive: per
    /// class, the largest groups of paths of one shape, with their counts.
    pub retainers: Vec<RetainerPath>,
    /// Objects alive before and after that grew in place (a dictionary, an
    /// array or a Map's table that kept filling), with their paths.
    pub grown: Vec<GrownObject>,
    /// Where new objects of the top classes were allocated (with
    /// `--trace-allocations`, or from the tracked re-run of a failure).
    pub allocations: Vec<AllocationSite>,
    /// With `repeat`: each run against the one before, and what leaked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repetition: Option<Repetition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshots: Option<Snapshots>,
    /// The figures recorded in the baseline, when there are some.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BlockBaseline>,
    /// The budget the block was held to, as written in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<String>,
    /// Why the block failed, one line each; empty when it passed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
    /// The block's whole failure text (reasons, diff, table, explanations).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_text: Option<String>,
    /// A `repeat` block's runs, each against the one before (they become
    /// entries of their own, see [`with_runs`]).
    #[serde(skip)]
    pub runs: Vec<Comparison>,
}

#[derive(Debug, Serialize, Clone)]
pub struct Snapshots {
    pub before: PathBuf,
    pub after: PathBuf,
}

/// What the run did to baseline files.
#[derive(Debug, Serialize, Clone, Default)]
pub struct BaselineActivity {
    /// Files `--update` rewrote, with every figure it changed.
    pub updated: Vec<FileChanges>,
    /// Pending baselines (`.toml.new`) this run left, with their tests.
    pub pending: Vec<PendingFile>,
    /// Entries and files whose test or test file no longer exists.
    pub unreferenced: Vec<UnreferencedEntry>,
}

#[derive(Debug, Serialize, Clone, PartialEq)]
pub struct FileChanges {
    /// The baseline file, as shown to users.
    pub path: String,
    /// One line per figure, test or block that changed.
    pub changes: Vec<String>,
}

#[derive(Debug, Serialize, Clone, PartialEq)]
pub struct PendingFile {
    pub path: String,
    /// Every test the file holds a pending baseline for.
    pub tests: Vec<String>,
}

#[derive(Debug, Serialize, Clone, PartialEq)]
pub struct UnreferencedEntry {
    /// The baseline (or pending) file.
    pub path: String,
    /// The test whose entry it is; `None` when the whole file is stale.
    pub test: Option<String>,
    /// Whether this run deleted it (`--unreferenced=delete`).
    pub deleted: bool,
}

fn millis<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.map_or(0, |d| d.as_millis() as u64))
}

impl RunReport {
    pub fn count(&self, status: Status) -> usize {
        self.tests.iter().filter(|t| t.status == status).count()
    }

    pub fn failed(&self) -> impl Iterator<Item = &TestReport> {
        self.tests.iter().filter(|t| t.status == Status::Failed)
    }
}

impl TestReport {
    /// `file::name` (`engine:file::name` when the run has several
    /// engines), as libtest shows and filters it.
    pub fn full_name(&self) -> String {
        format!(
            "{}{}",
            self.prefix,
            crate::text::full_name(&self.file, &self.name)
        )
    }

    /// The test file on its engine: `file`, or `engine:file` when the run
    /// has several engines.
    pub fn file_key(&self) -> String {
        format!("{}{}", self.prefix, self.file)
    }
}

impl BlockReport {
    pub fn new(block: &Block) -> BlockReport {
        let c = &block.comparison;
        BlockReport {
            name: block.name.clone(),
            kind: block.kind,
            from: block.from.as_ref().map(|f| f.0.clone()),
            from_line: block.from.as_ref().and_then(|f| f.1),
            line: block.line,
            retained_bytes: c.retained_bytes,
            retained_objects: c.retained_objects,
            freed_bytes: c.freed_bytes,
            freed_objects: c.freed_objects,
            allocated_bytes: block.allocated_bytes,
            constructors: c.constructors.clone(),
            retainers: block.retainers.clone(),
            grown: block.grown.clone(),
            repetition: block.repetition.clone(),
            allocations: block.allocations.clone(),
            snapshots: block
                .snapshots
                .clone()
                .map(|(before, after)| Snapshots { before, after }),
            runs: block.runs.clone(),
            ..BlockReport::default()
        }
    }

    /// Run `i` (1-based) of this `repeat` block, as an entry of its own.
    fn run(&self, i: usize, c: &Comparison) -> BlockReport {
        BlockReport {
            name: format!("{} › run {i}", self.name),
            kind: BlockKind::Run,
            run_of: Some(self.name.clone()),
            line: self.line,
            retained_bytes: c.retained_bytes,
            retained_objects: c.retained_objects,
            freed_bytes: c.freed_bytes,
            freed_objects: c.freed_objects,
            constructors: c.constructors.clone(),
            ..BlockReport::default()
        }
    }

    /// `block "name"`, `step "name"` or `run "name"`, for messages.
    pub fn title(&self) -> String {
        format!(
            "{} {}",
            self.kind.word(),
            crate::text::quote_name(&self.name)
        )
    }

    pub fn failed(&self) -> bool {
        !self.failures.is_empty()
    }

    /// Whether the figures differ from the recorded ones (or none are).
    pub fn changed(&self) -> bool {
        self.baseline.as_ref() != Some(&self.figures())
    }

    /// The block's figures as a baseline records them.
    pub fn figures(&self) -> BlockBaseline {
        BlockBaseline::from_comparison(&self.comparison(), self.allocated_bytes)
    }

    /// The block's Comparison, as measured.
    pub fn comparison(&self) -> Comparison {
        Comparison {
            retained_bytes: self.retained_bytes,
            retained_objects: self.retained_objects,
            freed_bytes: self.freed_bytes,
            freed_objects: self.freed_objects,
            constructors: self.constructors.clone(),
        }
    }

    /// The classes whose new objects grew most against the baseline (all
    /// new objects when there is none), largest first: `(name, growth)`.
    pub fn top_grown(&self, n: usize) -> Vec<(String, i64)> {
        let mut grown: Vec<(String, i64)> = self
            .constructors
            .iter()
            .map(|c| {
                let base = self.baseline.as_ref().map_or(0, |b| b.new_of(&c.name));
                (c.name.clone(), c.new as i64 - base as i64)
            })
            .filter(|(_, d)| *d > 0)
            .collect();
        grown.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        grown.truncate(n);
        grown
    }
}

/// A test's blocks and steps with each `repeat` block's runs after it, as
/// entries of kind `run`, so that every output can show them as steps.
pub fn with_runs(blocks: Vec<BlockReport>) -> Vec<BlockReport> {
    let mut out = Vec::with_capacity(blocks.len());
    for b in blocks {
        let runs: Vec<BlockReport> = b
            .runs
            .iter()
            .enumerate()
            .map(|(i, c)| b.run(i + 1, c))
            .collect();
        out.push(b);
        out.extend(runs);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, new: u64) -> ConstructorDelta {
        ConstructorDelta {
            name: name.into(),
            new,
            deleted: 0,
            delta: new as i64,
            alloc_size: 32 * new,
            freed_size: 0,
            size_delta: 32 * new as i64,
        }
    }

    #[test]
    fn top_grown_is_against_the_baseline() {
        let mut b = BlockReport {
            constructors: vec![row("A", 10), row("B", 150), row("C", 3)],
            ..BlockReport::default()
        };
        assert_eq!(
            b.top_grown(2),
            [("B".to_owned(), 150), ("A".to_owned(), 10)]
        );
        let mut base = b.clone();
        base.constructors = vec![row("A", 10), row("B", 100)];
        b.baseline = Some(base.figures());
        assert!(b.changed());
        assert_eq!(b.top_grown(3), [("B".to_owned(), 50), ("C".to_owned(), 3)]);
        b.baseline = Some(b.figures());
        assert!(!b.changed());
    }
}

#[cfg(test)]
mod run_tests {
    use super::*;

    #[test]
    fn a_repeat_blocks_runs_follow_it_as_entries_of_their_own() {
        let run = |n: u64| Comparison {
            retained_objects: n,
            ..Comparison::default()
        };
        let fill = BlockReport {
            name: "fill".into(),
            line: Some(7),
            runs: vec![run(10), run(0)],
            ..BlockReport::default()
        };
        let step = BlockReport {
            name: "after".into(),
            kind: BlockKind::Step,
            ..BlockReport::default()
        };
        let all = with_runs(vec![fill, step]);
        let shown: Vec<(String, BlockKind, Option<&str>, u64)> = all
            .iter()
            .map(|b| {
                (
                    b.name.clone(),
                    b.kind,
                    b.run_of.as_deref(),
                    b.retained_objects,
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                ("fill".into(), BlockKind::Block, None, 0),
                ("fill › run 1".into(), BlockKind::Run, Some("fill"), 10),
                ("fill › run 2".into(), BlockKind::Run, Some("fill"), 0),
                ("after".into(), BlockKind::Step, None, 0),
            ]
        );
        assert_eq!(all[1].line, Some(7));
        assert_eq!(all[3].title(), "step \"after\"");
    }
}
