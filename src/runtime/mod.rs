//! The JS runtime: provisioning Deno, writing the embedded harness, and
//! running one test file per child process, spoken to over a framed stdout.

mod harness;
mod process;
mod protocol;
mod provision;

use std::path::PathBuf;

pub use harness::Harness;
pub use process::{Event, Exit, Launch, Session};
pub use protocol::{ListedTest, Message, RuntimeInfo};
pub use provision::{CACHE_ENV, DENO_ENV, Provisioned, cache_dir, provision};

/// V8 flags every run needs: `gc()` for checkpoints, and determinism.
pub const V8_FLAGS: &[&str] = &[
    "--expose-gc",
    "--predictable",
    "--no-lazy-feedback-allocation",
    "--max-lazy",
    "--no-flush-bytecode",
    "--sampling-heap-profiler-suppress-randomness",
];

/// Errors getting a runtime to run, worded with the fix.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "the deno binary {binary} (from {origin}) does not exist; fix the path or unset it to use the pinned download"
    )]
    Missing { binary: PathBuf, origin: String },
    #[error("no prebuilt Deno for {0} is known; install Deno and set MEMCHECK_DENO to its binary")]
    Unsupported(String),
    #[error(
        "cannot install the Deno runtime: `npm` was not found on PATH; install Node.js with npm, or install Deno and set MEMCHECK_DENO to its binary"
    )]
    NoNpm,
    #[error(
        "cannot install the Deno runtime: {0}\nfix: check that npm can reach its registry, or install Deno and set MEMCHECK_DENO to its binary"
    )]
    Install(String),
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
}
