//! Integration tests: the real `cargo-memcheck` binary, the real Deno, on
//! copies of the fixture projects in `tests/fixtures/`.

mod chromium;
mod ci;
mod engines;
mod environment;
mod html;
mod isolation;
mod lifecycle;
mod paths;
mod projects;
mod reliability;
mod robustness;
mod sandbox;
mod sites;
mod spares;
mod steps;
mod suite;
mod util;
mod watch;
