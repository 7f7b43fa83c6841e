//! The view model of the HTML report: everything the page shows, and
//! nothing else. It is serialized to JSON and embedded in the page, so its
//! size follows the rows shown, not the heap.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::diff::ConstructorDelta;
use crate::explain::{GrownObject, RetainerPath};
use crate::runtime::RuntimeInfo;

/// One report page: a run's tests, or the comparison of two snapshots.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Page {
    /// A run's page, or a `diff`'s (which has no pass or fail to show).
    pub kind: PageKind,
    /// The document's title.
    pub title: String,
    /// The tool and version that wrote the page, e.g. `cargo-memcheck 0.1.0`.
    pub generated_by: String,
    /// The runtimes the tests ran in, in the order first seen (none for a
    /// `diff`).
    pub runtimes: Vec<RuntimeInfo>,
    pub tests: Vec<PageTest>,
    /// Source text by path relative to the project root (`/`-separated):
    /// the test files, and the files allocation frames point into. Only
    /// files some test or frame refers to are here.
    pub sources: BTreeMap<String, String>,
    /// Notes shown above everything, e.g. how to get allocation sites.
    pub hints: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PageKind {
    #[default]
    Run,
    Diff,
}

/// One test and its steps, in the order they ran.
#[derive(Debug, Clone, Serialize)]
pub struct PageTest {
    /// The test file, relative to the project root (a key of `sources` when
    /// its text is embedded).
    pub file: String,
    /// The engine, when the run had several (`deno`, `node`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    pub name: String,
    /// `file::test` as a run shows and filters it (`node:file::test` when
    /// the run had several engines): what Accept and Reject name.
    pub full_name: String,
    /// The test has a pending baseline (the live page offers Accept and
    /// Reject for it).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
    pub status: TestStatus,
    /// Why it failed (the terminal's message), if it did.
    pub message: Option<String>,
    /// The line of the `test(...)` call, 1-based.
    pub line: Option<u32>,
    pub steps: Vec<PageStep>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TestStatus {
    Passed,
    Failed,
    Ignored,
}

/// What one step did to the heap: the Comparison of the snapshots that
/// open and close it, and why its objects are there.
#[derive(Debug, Clone, Serialize)]
pub struct PageStep {
    pub name: String,
    pub kind: StepKind,
    /// The line in the test file of the `t.measure` / `t.checkpoint` call
    /// that closes the step (for a test without blocks, the `test` call;
    /// for a run, its block's).
    pub line: Option<u32>,
    /// A step's opening checkpoint (the one before it): its label and line.
    pub from: Option<String>,
    pub from_line: Option<u32>,
    /// The `repeat` block a run belongs to.
    pub run_of: Option<String>,
    pub status: StepStatus,
    pub retained_objects: u64,
    pub retained_bytes: u64,
    pub freed_objects: u64,
    pub freed_bytes: u64,
    /// Bytes allocated, garbage included (tests that measure it).
    pub allocated_bytes: Option<u64>,
    /// The Comparison rows, largest allocated size first.
    pub constructors: Vec<ConstructorDelta>,
    /// How the new objects of each top class are kept alive: its largest
    /// groups of paths of one shape, with their counts.
    pub retainers: Vec<RetainerPath>,
    /// Objects alive before and after that grew in place, with their paths.
    pub grown: Vec<GrownObject>,
    /// Where new objects of the top classes were allocated.
    pub allocations: Vec<PageSite>,
    /// The recorded figures this step is held against, when comparable.
    pub baseline: Option<PageBaseline>,
    /// The budget that applies, as written (e.g. `retained 64 KiB`).
    pub budget: Option<String>,
    /// The `.heapsnapshot` files, relative to the page's folder.
    pub snapshots: Option<PageSnapshots>,
}

/// What a step is: a `t.measure` block, a `t.checkpoint` step, or one run
/// of a `repeat` block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    Block,
    Step,
    Run,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    Passed,
    Failed,
}

/// One allocation stack and how many new objects of a class it made.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PageSite {
    pub constructor: String,
    pub count: u64,
    /// Innermost first; empty when V8 recorded no stack for these objects.
    pub frames: Vec<PageFrame>,
}

/// A function on an allocation stack. `line`/`column` (1-based) point at
/// the function's start: V8 records functions, not statements. In a
/// TypeScript file they are moved to where the function starts in the
/// embedded source, as V8 counts the lines of the transpiled JavaScript.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PageFrame {
    pub function: String,
    /// Relative to the project root when the file is inside it (then a key
    /// of `sources` when its text is embedded), else as V8 named it.
    pub file: String,
    pub line: u32,
    pub column: u32,
    /// The runtime whose own code this is (`"deno"`, `"node"`); absent for
    /// the project's code. The page shows such frames by name, muted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<&'static str>,
}

/// A step's recorded baseline figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PageBaseline {
    pub retained_objects: u64,
    pub retained_bytes: u64,
    pub constructors: Vec<PageBaselineRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PageBaselineRow {
    pub name: String,
    pub new: u64,
    pub deleted: u64,
    pub size_delta: i64,
}

/// Paths of a step's two snapshots, `/`-separated, relative to the page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PageSnapshots {
    pub before: String,
    pub after: String,
}
