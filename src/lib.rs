//! cargo-memcheck: memory regression tests for JavaScript, run in a real V8.
//!
//! The library core under a thin CLI: `config` reads `memcheck.toml`,
//! `discover` finds test files, `runtime` provisions and drives Deno,
//! `snapshot` parses heap snapshots, `diff` compares them the way DevTools
//! does, `retainers` and `explain` say why objects are alive and where they
//! came from, `repeat` finds growth in every run, `measure` runs one test,
//! `budget`, `baseline` and `verdict` judge a block, `report` renders the
//! results, and `run` ties everything into libtest trials.

pub mod baseline;
pub mod budget;
pub mod config;
pub mod diff;
pub mod discover;
pub mod explain;
pub mod interrupt;
pub mod measure;
pub mod repeat;
pub mod report;
pub mod retainers;
pub mod run;
pub mod runtime;
pub mod snapshot;
pub mod units;
pub mod verdict;

/// Exit codes of `cargo memcheck`, as libtest and clap use them.
pub mod exit {
    /// Every test passed (or only listing/diffing was asked for).
    pub const OK: i32 = 0;
    /// Something went wrong outside the tests (no runtime, unreadable files).
    pub const ERROR: i32 = 1;
    /// Bad command line or `memcheck.toml`.
    pub const USAGE: i32 = 2;
    /// At least one test failed (libtest's code).
    pub const TESTS_FAILED: i32 = 101;
}
