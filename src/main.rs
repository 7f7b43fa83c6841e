//! `cargo-memcheck`: the thin binary over the library; see `cli`.

mod cli;

fn main() {
    cargo_memcheck::snapshot::map_large_allocations();
    std::process::exit(cli::main());
}
