//! The command line: clap lives here and only here. Parses `cargo memcheck
//! …` (or `cargo-memcheck …`), loads the configuration, and hands over to
//! the library; maps errors to exit codes.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::LazyLock;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use libtest_mimic::{ColorSetting, FormatSetting};

use cargo_memcheck::baseline::UpdateMode;
use cargo_memcheck::baseline::stale::Unreferenced;
use cargo_memcheck::color::{self, When};
use cargo_memcheck::config::{Config, ConfigError};
use cargo_memcheck::partition::Partition;
use cargo_memcheck::review::{self, Selection};
use cargo_memcheck::run::{self, Options};
use cargo_memcheck::runtime::Engine;
use cargo_memcheck::sourcemap::SourceMaps;
use cargo_memcheck::watch::WatchOptions;
use cargo_memcheck::{diff, exit, explain, report, runtime, snapshot, text};

const ABOUT: &str =
    "Memory regression tests for JavaScript, run in a real V8 (Deno, Node.js or a Chromium page).";

/// `--version`: the crate's version and the runtimes it pins, since the
/// figures (and so the baselines) depend on them:
/// `0.1.0 (Deno 2.9.6, Node.js 24.21.0 pinned)`.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    let pins: Vec<String> = Engine::ALL
        .iter()
        .filter(|e| e.is_pinned())
        .map(|e| format!("{} {}", e.title(), e.default_version()))
        .collect();
    format!("{} ({} pinned)", env!("CARGO_PKG_VERSION"), pins.join(", "))
});

#[derive(Parser)]
#[command(
    name = "cargo-memcheck",
    bin_name = "cargo memcheck",
    version,
    about = ABOUT,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Print the DevTools Comparison of two .heapsnapshot files.
    Diff(DiffArgs),
    /// Show each pending baseline as a diff and ask: accept, reject or skip.
    Review(PendingArgs),
    /// Accept pending baselines without asking: move them into the baselines.
    Accept(PendingArgs),
    /// Reject pending baselines without asking: delete them.
    Reject(PendingArgs),
    /// Run the tests, serve the live report on 127.0.0.1, and run again on
    /// each save; the page follows every run.
    Watch(WatchArgs),
}

#[derive(Args)]
struct WatchArgs {
    /// Only the tests whose `file::test` name contains FILTER.
    filter: Option<String>,
    /// FILTER is a whole `file::test` name.
    #[arg(long)]
    exact: bool,
    /// Run on this engine only (deno, node or chromium), whatever memcheck.toml says.
    #[arg(long, value_name = "ENGINE", value_parser = ["deno", "node", "chromium"])]
    engine: Option<String>,
    /// Serve the page on this port of 127.0.0.1 (0, the default: a free one).
    #[arg(long, value_name = "N", default_value_t = 0)]
    port: u16,
    /// Open the page in your browser.
    #[arg(long)]
    open: bool,
    /// Track allocations in every run, so that the page shows where new
    /// objects were allocated (slow).
    #[arg(long)]
    trace_allocations: bool,
    /// Use this memcheck.toml instead of searching from the current directory.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
}

#[derive(Args)]
struct PendingArgs {
    /// Only the tests whose `file::test` name contains FILTER.
    filter: Option<String>,
    /// FILTER is a whole `file::test` name.
    #[arg(long)]
    exact: bool,
    /// Use this memcheck.toml instead of searching from the current directory.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
}

/// `--update`'s values.
#[derive(Clone, Copy, ValueEnum)]
enum UpdateArg {
    All,
    New,
}

/// `--unreferenced`'s values.
#[derive(Clone, Copy, ValueEnum)]
enum UnreferencedArg {
    Ignore,
    Warn,
    Reject,
    Delete,
}

#[derive(Args)]
struct RunArgs {
    /// Record the baselines of the tests that run, listing every figure
    /// changed; `--update=new` records only tests with no baseline yet.
    #[arg(
        long,
        value_name = "WHICH",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "all"
    )]
    update: Option<UpdateArg>,
    /// Baseline entries and files whose test or test file is gone.
    #[arg(long, value_enum, value_name = "MODE", default_value = "warn")]
    unreferenced: UnreferencedArg,
    /// Run one shard of the selected tests: hash:M/N (stable as tests are
    /// added) or count:M/N (round-robin).
    #[arg(long, value_name = "hash:M/N|count:M/N", value_parser = parse_partition)]
    partition: Option<Partition>,
    /// Write a machine-readable report to PATH.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Write a JUnit XML report to PATH.
    #[arg(long, value_name = "PATH")]
    junit: Option<PathBuf>,
    /// Write a Markdown summary to PATH (for a pull-request comment).
    #[arg(long, value_name = "PATH")]
    markdown: Option<PathBuf>,
    /// GitHub Actions annotations and step summary (on when GITHUB_ACTIONS=true).
    #[arg(long)]
    github: bool,
    /// Write a self-contained HTML report to PATH: each step's Comparison,
    /// retainers and allocation sites beside the source.
    #[arg(long, value_name = "PATH")]
    html: Option<PathBuf>,
    /// Keep every checkpoint's .heapsnapshot under DIR.
    #[arg(long, value_name = "DIR")]
    snapshots: Option<PathBuf>,
    /// Track allocations in every run and report where new objects were
    /// allocated (slow; failing tests are re-run this way anyway).
    #[arg(long)]
    trace_allocations: bool,
    /// After the run, print where each test's time went, phase by phase.
    #[arg(long)]
    timings: bool,
    /// Run on this engine only (deno, node or chromium), whatever memcheck.toml says.
    #[arg(long, value_name = "ENGINE", value_parser = ["deno", "node", "chromium"])]
    engine: Option<String>,
    /// Use this memcheck.toml instead of searching from the current directory.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(flatten)]
    libtest: libtest_mimic::Arguments,
}

#[derive(Args)]
struct DiffArgs {
    /// The base snapshot.
    before: PathBuf,
    /// The current snapshot.
    after: PathBuf,
    /// Also write the comparison as JSON to PATH.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Also write the comparison as a self-contained HTML page to PATH.
    #[arg(long, value_name = "PATH")]
    html: Option<PathBuf>,
}

/// Parse the command line, run, and return the exit code.
pub fn main() -> i32 {
    let mut argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // `cargo memcheck` runs us as `cargo-memcheck memcheck …`.
    if argv.get(1).is_some_and(|a| a == "memcheck") {
        argv.remove(1);
    }
    let cli = match command()
        .try_get_matches_from(argv)
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
        }
    };
    if cli.command.is_none() && cli.run.libtest.test_threads == Some(0) {
        eprintln!(
            "error: --test-threads must be at least 1 (0 would run nothing); leave it out to run one test per core"
        );
        return exit::USAGE;
    }
    let result = match cli.command {
        Some(Command::Diff(d)) => diff_command(&d),
        Some(Command::Review(p)) => pending_command(&p, None),
        Some(Command::Accept(p)) => pending_command(&p, Some(true)),
        Some(Command::Reject(p)) => pending_command(&p, Some(false)),
        Some(Command::Watch(w)) => watch_command(w),
        None => run_command(cli.run),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<ConfigError>()
                .is_some_and(|c| matches!(c, ConfigError::Invalid { .. }))
            {
                exit::USAGE
            } else {
                exit::ERROR
            }
        }
    }
}

/// The clap command, with libtest's flags worded for memcheck: libtest-mimic
/// brings its own help template and calls two flags no-ops that we honour.
fn command() -> clap::Command {
    let show =
        "After the run, show each passing test's blocks: Comparison table, retainer paths, output";
    Cli::command()
        .about(ABOUT)
        .long_about(None)
        .version(VERSION.as_str())
        .disable_version_flag(false)
        .help_template("{about}\n\n{usage-heading} {usage}\n\n{all-args}{after-help}")
        .after_help(
            "Tests run in parallel, each in its own runtime process (--test-threads to change).\n\
             Exit codes: 0 passed, 101 a test failed, 2 bad arguments or memcheck.toml, 1 other errors.",
        )
        .mut_arg("show_output", |a| a.help(show))
        .mut_arg("nocapture", |a| a.help("Same as --show-output"))
        .mut_arg("test", |a| a.hide(true))
        .mut_arg("bench", |a| a.hide(true))
        .mut_arg("unstable_flags", |a| a.hide(true))
}

fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Config> {
    Ok(match path {
        Some(path) => Config::load(path)?,
        None => Config::discover(&std::env::current_dir()?)?,
    })
}

fn run_command(mut args: RunArgs) -> anyhow::Result<i32> {
    let config = load_config(args.config.as_ref())?;
    let env = |name| std::env::var(name).ok();
    // One colour setting for libtest's output and ours.
    let flag = args.libtest.color.map(|c| match c {
        ColorSetting::Auto => When::Auto,
        ColorSetting::Always => When::Always,
        ColorSetting::Never => When::Never,
    });
    let colored = color::enabled(flag, env("CARGO_TERM_COLOR").as_deref());
    args.libtest.color = Some(if colored {
        ColorSetting::Always
    } else {
        ColorSetting::Never
    });
    let libtest_json = matches!(args.libtest.format, Some(FormatSetting::Json));
    let engine = parse_engine(args.engine.as_deref())?;
    if let Some(e) = engine {
        report::suggest_engine(e);
    }
    let opts = Options {
        update: args.update.map(|u| match u {
            UpdateArg::All => UpdateMode::All,
            UpdateArg::New => UpdateMode::New,
        }),
        json: args.json,
        html: args.html,
        junit: args.junit,
        markdown: args.markdown,
        github: args.github || env("GITHUB_ACTIONS").is_some_and(|v| v == "true"),
        snapshots: args.snapshots,
        trace_allocations: args.trace_allocations,
        timings: args.timings,
        engine,
        show_output: args.libtest.show_output || args.libtest.nocapture,
        partition: args.partition,
        unreferenced: match args.unreferenced {
            UnreferencedArg::Ignore => Unreferenced::Ignore,
            UnreferencedArg::Warn => Unreferenced::Warn,
            UnreferencedArg::Reject => Unreferenced::Reject,
            UnreferencedArg::Delete => Unreferenced::Delete,
        },
        ci: in_ci(env("CI").as_deref()),
        color: colored && !libtest_json,
        held: false,
    };
    run::run(&config, &args.libtest, &opts)
}

/// `--engine`'s value, checked by clap already.
fn parse_engine(engine: Option<&str>) -> anyhow::Result<Option<Engine>> {
    engine
        .map(str::parse)
        .transpose()
        .map_err(anyhow::Error::msg)
}

fn watch_command(args: WatchArgs) -> anyhow::Result<i32> {
    let config = load_config(args.config.as_ref())?;
    let env = |name| std::env::var(name).ok();
    let engine = parse_engine(args.engine.as_deref())?;
    let opts = Options {
        trace_allocations: args.trace_allocations,
        engine,
        ci: in_ci(env("CI").as_deref()),
        color: color::enabled(None, env("CARGO_TERM_COLOR").as_deref()),
        held: true,
        ..Options::default()
    };
    let watch = WatchOptions {
        port: args.port,
        open: args.open,
        args: libtest_mimic::Arguments {
            filter: args.filter,
            exact: args.exact,
            ..libtest_mimic::Arguments::default()
        },
    };
    cargo_memcheck::watch::watch(config, opts, watch)
}

/// CI is `CI` set to anything but empty, `false` or `0` (as insta reads it).
fn in_ci(value: Option<&str>) -> bool {
    value.is_some_and(|v| !matches!(v.trim(), "" | "false" | "0"))
}

fn parse_partition(s: &str) -> Result<Partition, String> {
    s.parse()
}

/// `review` (`accept` None), `accept` (Some(true)) or `reject` (Some(false)).
fn pending_command(args: &PendingArgs, accept: Option<bool>) -> anyhow::Result<i32> {
    let config = load_config(args.config.as_ref())?;
    let review::Search {
        mut found,
        unreadable,
    } = review::find(&config.root)?;
    for problem in &unreadable {
        eprintln!("memcheck: skipped: {problem}");
    }
    let selection = Selection {
        filter: args.filter.clone(),
        exact: args.exact,
    };
    if found.is_empty() {
        let root = text::display_path(&config.root);
        let root = if root.is_empty() { "." } else { root.as_str() };
        eprintln!("memcheck: no pending baselines under {root}");
        return Ok(exit::OK);
    }
    let outcome = match accept {
        Some(accept) => review::settle(&mut found, &selection, accept)?,
        None if !std::io::stdin().is_terminal() => {
            eprintln!(
                "memcheck: review asks at a terminal, and stdin is not one; settle pending baselines without asking:\n  cargo memcheck accept [FILTER]\n  cargo memcheck reject [FILTER]"
            );
            return Ok(exit::ERROR);
        }
        None => {
            let paint = color::enabled(None, std::env::var("CARGO_TERM_COLOR").ok().as_deref());
            let mut stdin = std::io::stdin().lock();
            review::review(
                &mut found,
                &selection,
                paint,
                &mut stdin,
                &mut std::io::stdout(),
            )?
        }
    };
    let summary = review::summary(&outcome);
    if summary.is_empty() {
        let names: Vec<String> = found.iter().flat_map(review::Found::names).collect();
        eprintln!(
            "memcheck: no pending baseline matches {:?}; pending:\n  {}",
            args.filter.as_deref().unwrap_or(""),
            names.join("\n  ")
        );
        return Ok(exit::ERROR);
    }
    eprint!("{summary}");
    Ok(exit::OK)
}

fn diff_command(args: &DiffArgs) -> anyhow::Result<i32> {
    // Each file is parsed on its own thread, and the "before" one counted
    // there too; the "after" one is counted while the step's rule walks it.
    let load = |path: &PathBuf| -> anyhow::Result<snapshot::Snapshot> {
        let file = std::fs::File::open(path)
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
        let snap =
            snapshot::parse_file(file).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if !snap.has_js_objects() {
            anyhow::bail!(
                "{}: the snapshot holds no JavaScript objects ({} nodes); is it a V8 heap snapshot of a JS heap?",
                path.display(),
                snap.node_count()
            );
        }
        Ok(snap)
    };
    let (before, after) = std::thread::scope(|s| {
        let b = s.spawn(|| {
            load(&args.before).map(|snap| {
                let table = diff::Table::of(&snap);
                (snap, table)
            })
        });
        let a = load(&args.after);
        (b.join().expect("parser thread"), a)
    });
    let ((before, before_table), after) = (before?, after?);
    // As a step compares its checkpoints: what only the code running at
    // either snapshot holds is left out, so the snapshots of a step diff to
    // its table, and a block's to the block's.
    let (comparison, changes, held) = diff::compare_step_with((&before, before_table), &after);
    drop(before);
    // The table and the JSON share one order: size delta, largest first.
    let mut rows = comparison;
    rows.constructors.sort_by(|a, b| {
        b.size_delta
            .cmp(&a.size_delta)
            .then_with(|| a.name.cmp(&b.name))
    });
    print!("{}", report::table(&rows));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&rows)?;
        std::fs::write(path, text + "\n")
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    if let Some(path) = &args.html {
        let kept = explain::retainer_paths(&after, &rows, &changes, Some(&held));
        let compared = report::html::Compared {
            before: &args.before,
            after: &args.after,
            comparison: &rows,
            retainers: kept.retainers,
            grown: kept.grown,
            allocations: explain::allocation_sites(
                &after,
                &rows,
                &changes.new,
                &SourceMaps::new(&runtime::deno::user_deno_dir()),
            ),
        };
        let page_dir = path.parent().unwrap_or(std::path::Path::new(""));
        report::html::write(&report::html::from_diff(compared, page_dir), path)?;
        eprintln!(
            "memcheck: HTML report written to {}",
            text::display_path(path)
        );
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn libtest_flags_and_ours_parse_together() {
        let m = command()
            .try_get_matches_from([
                "cargo-memcheck",
                "cache",
                "--exact",
                "--nocapture",
                "--update",
                "--test-threads",
                "1",
            ])
            .unwrap();
        let cli = Cli::from_arg_matches(&m).unwrap();
        assert!(cli.command.is_none());
        assert!(cli.run.update.is_some() && cli.run.libtest.exact && cli.run.libtest.nocapture);
        assert_eq!(cli.run.libtest.filter.as_deref(), Some("cache"));
        assert_eq!(cli.run.libtest.test_threads, Some(1));
    }

    #[test]
    fn update_takes_its_value_only_after_an_equals_sign() {
        let parse = |args: &[&str]| {
            let m = command().try_get_matches_from(args).unwrap();
            Cli::from_arg_matches(&m).unwrap()
        };
        let cli = parse(&["cargo-memcheck", "--update", "new"]);
        assert!(matches!(cli.run.update, Some(UpdateArg::All)));
        assert_eq!(cli.run.libtest.filter.as_deref(), Some("new"));
        let cli = parse(&["cargo-memcheck", "--update=new"]);
        assert!(matches!(cli.run.update, Some(UpdateArg::New)));
        let cli = parse(&["cargo-memcheck", "accept", "--exact", "a.js::t"]);
        assert!(matches!(cli.command, Some(Command::Accept(_))));
        assert!(
            command()
                .try_get_matches_from(["cargo-memcheck", "--partition", "hash:4/3"])
                .is_err()
        );
    }

    #[test]
    fn every_engine_can_be_chosen() {
        for engine in Engine::ALL {
            assert!(
                command()
                    .try_get_matches_from(["cargo-memcheck", "memcheck", "--engine", engine.name()])
                    .is_ok(),
                "--engine {engine}"
            );
        }
    }

    #[test]
    fn version_names_the_pinned_runtimes() {
        let e = command()
            .try_get_matches_from(["cargo-memcheck", "--version"])
            .err()
            .unwrap();
        assert_eq!(e.kind(), clap::error::ErrorKind::DisplayVersion);
        assert_eq!(
            e.to_string(),
            format!(
                "cargo-memcheck {} (Deno 2.9.6, Node.js 24.21.0 pinned)\n",
                env!("CARGO_PKG_VERSION")
            )
        );
    }

    #[test]
    fn ci_is_read_as_insta_reads_it() {
        assert!(in_ci(Some("true")) && in_ci(Some("1")) && in_ci(Some("yes")));
        assert!(!in_ci(None) && !in_ci(Some("false")) && !in_ci(Some("0")) && !in_ci(Some("")));
    }
}
