//! `cargo-memcheck`: the thin binary over the library; see `cli`.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
