//! The `--json` report: `{ runtime, tests: [ { file, name, status, message,
//! blocks: [ { name, retained_bytes, …, constructors, snapshots } ] } ] }`.

use std::path::PathBuf;

use serde::Serialize;

use crate::diff::ConstructorDelta;
use crate::explain::{AllocationSite, RetainerPath};
use crate::measure::Block;
use crate::repeat::Repetition;
use crate::runtime::RuntimeInfo;

#[derive(Debug, Serialize, Default)]
pub struct JsonReport {
    /// The first engine's runtime (every runtime is in `runtimes`).
    pub runtime: RuntimeInfo,
    pub runtimes: Vec<RuntimeInfo>,
    pub tests: Vec<JsonTest>,
}

#[derive(Debug, Serialize, Clone)]
pub struct JsonTest {
    pub file: String,
    /// `deno` or `node`.
    pub engine: &'static str,
    pub name: String,
    /// The line of the `test(...)` call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// `passed`, `failed` or `ignored`.
    pub status: &'static str,
    pub message: Option<String>,
    pub blocks: Vec<JsonBlock>,
    /// Where the test's time went (milliseconds per phase).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timings: Option<crate::timings::Timings>,
}

#[derive(Debug, Serialize, Clone)]
pub struct JsonBlock {
    pub name: String,
    /// The line of the test file where the block starts (its `t.measure`
    /// call; the test's line for a whole-body block).
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
    /// How one new object of each of the top growing classes is kept alive.
    pub retainers: Vec<RetainerPath>,
    /// Where new objects of the top classes were allocated (with
    /// `--trace-allocations`, or from the tracked re-run of a failure).
    pub allocations: Vec<AllocationSite>,
    /// With `repeat`: each run against the one before, and what leaked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repetition: Option<Repetition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshots: Option<Snapshots>,
}

#[derive(Debug, Serialize, Clone)]
pub struct Snapshots {
    pub before: PathBuf,
    pub after: PathBuf,
}

impl JsonBlock {
    pub fn new(block: &Block) -> JsonBlock {
        let c = &block.comparison;
        JsonBlock {
            name: block.name.clone(),
            line: block.line,
            retained_bytes: c.retained_bytes,
            retained_objects: c.retained_objects,
            freed_bytes: c.freed_bytes,
            freed_objects: c.freed_objects,
            allocated_bytes: block.allocated_bytes,
            constructors: c.constructors.clone(),
            retainers: block.retainers.clone(),
            repetition: block.repetition.clone(),
            allocations: block.allocations.clone(),
            snapshots: block
                .snapshots
                .clone()
                .map(|(before, after)| Snapshots { before, after }),
        }
    }
}
