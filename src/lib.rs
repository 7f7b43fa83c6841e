//! cargo-memcheck: memory regression tests for JavaScript, run in a real V8.
//!
//! The library core under a thin CLI: `config` reads `memcheck.toml`,
//! `discover` finds test files, `runtime` provisions and drives Deno,
//! `snapshot` parses heap snapshots, `diff` compares them the way DevTools
//! does, `retainers` and `explain` say why objects are alive and where they
//! came from, `repeat` finds growth in every run, `measure` runs one test,
//! `steps` chains its checkpoints into steps,
//! `budget`, `baseline` and `verdict` judge a block, `report` renders the
//! run's model, `partition` picks a shard, `color` decides on colour,
//! `run` ties everything into libtest trials, `review` settles
//! pending baselines, and `text` quotes and escapes for all of them.

pub mod baseline;
pub mod budget;
pub mod color;
pub mod config;
pub mod diff;
pub mod discover;
pub mod explain;
pub mod interrupt;
pub mod measure;
pub mod partition;
pub mod project;
pub mod repeat;
pub mod report;
pub mod retainers;
pub mod review;
pub mod run;
pub mod runtime;
pub mod snapshot;
pub mod sourcemap;
pub mod steps;
pub mod text;
pub mod timings;
pub mod units;
pub mod verdict;
pub mod watch;

/// How long the randomized tests run: `MEMCHECK_FUZZ_ITERS` iterations
/// (default: a short run for the test suite) from `MEMCHECK_FUZZ_SEED`.
#[cfg(test)]
pub(crate) mod fuzz {
    pub fn iterations(default: u64) -> u64 {
        std::env::var("MEMCHECK_FUZZ_ITERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    /// A xorshift generator seeded from the environment.
    pub fn rng() -> impl FnMut() -> u64 {
        let mut state: u64 = std::env::var("MEMCHECK_FUZZ_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0x9E37_79B9_7F4A_7C15)
            | 1;
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    /// Text a test could print or name, built from pieces that have broken
    /// a terminal, a workflow-command reader or an XML writer: line ends,
    /// blanks, escapes, controls, characters XML cannot hold, markup.
    pub fn hostile_text(next: &mut impl FnMut() -> u64) -> String {
        const PIECES: &[&str] = &[
            "::",
            "::error::x",
            "::add-mask::s",
            "::stop-commands::t",
            "##[",
            "##[error]y",
            "\n",
            "\r",
            "\r\n",
            "\t",
            " ",
            "\u{3000}",
            "\u{85}",
            "\u{2028}",
            "\u{1b}[31m",
            "\u{1b}]8;;u\u{7}",
            "\u{7}",
            "\0",
            "\u{b}",
            "\u{7f}",
            "\u{9b}",
            "\u{fffe}",
            "\u{ffff}",
            "\u{fdd0}",
            "<",
            ">",
            "&",
            "\"",
            "'",
            "]]>",
            "%",
            ",",
            ":",
            "=",
            "a",
            "é",
            "😀",
            "`",
            "|",
            "\\",
            "--- baseline",
        ];
        let len = next() % 12;
        (0..len)
            .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
            .collect()
    }
}

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
