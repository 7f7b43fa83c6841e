//! `cargo bench --bench snapshots [-- OBJECTS...]`: parsing and diffing heap
//! snapshot pairs, side by side with a bare `serde_json` scan of the same
//! bytes (`IgnoredAny`) and with memlab (`@memlab/heap-analysis`).
//!
//! Pairs of ~10 k, 100 k and 1 M retained objects are made with the pinned
//! Deno (cached under `target/bench-snapshots/`). Every contender runs as its
//! own process; wall time is the median of 3 runs (1 for memlab at 1 M), peak
//! RSS is the child's `ru_maxrss`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const OUR_BIN: &str = env!("CARGO_BIN_EXE_cargo-memcheck");
const MEMLAB: &str = "@memlab/heap-analysis@2.0.5";

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if args.first().map(String::as_str) == Some("scan") {
        return scan(&args[1..]);
    }
    let sizes: Vec<u64> = if args.is_empty() {
        vec![10_000, 100_000, 1_000_000]
    } else {
        args.iter()
            .map(|a| a.parse().expect("OBJECTS must be numbers"))
            .collect()
    };
    let work = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-snapshots");
    std::fs::create_dir_all(&work).unwrap();
    let deno = deno();
    let memlab = install_memlab(&work);

    println!(
        "{:>9} {:>9} | {:>9} {:>9} | {:>9} {:>9} | {:>9} {:>9} | {:>7} {:>7} {:>8}",
        "objects",
        "after MB",
        "ours s",
        "ours MB",
        "serde s",
        "serde MB",
        "memlab s",
        "memlab MB",
        "/serde",
        "memlab/",
        "RSS/size"
    );
    for n in sizes {
        let (before, after) = pair(&deno, &work, n);
        let size_mb = mb(std::fs::metadata(&after).unwrap().len());
        let ours = measure(3, || {
            Command::new(OUR_BIN)
                .args(["diff"])
                .arg(&before)
                .arg(&after)
                .output_ok()
        });
        let serde = measure(3, || {
            Command::new(std::env::current_exe().unwrap())
                .arg("scan")
                .arg(&before)
                .arg(&after)
                .output_ok()
        });
        let memlab = memlab.as_ref().map(|dir| {
            let runs = if n >= 1_000_000 { 1 } else { 3 };
            measure(runs, || {
                Command::new("node")
                    .arg("--max-old-space-size=16000")
                    .arg(dir.join("count.js"))
                    .arg(&before)
                    .arg(&after)
                    .current_dir(dir)
                    .output_ok()
            })
        });
        let (ml_s, ml_mb, ml_ratio) = match memlab {
            Some((s, kb)) => (
                format!("{s:.2}"),
                format!("{:.0}", kb as f64 / 1024.0),
                format!("{:.1}x", s / ours.0),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        println!(
            "{:>9} {:>9.1} | {:>9.3} {:>9.0} | {:>9.3} {:>9.0} | {:>9} {:>9} | {:>6.2}x {:>7} {:>7.2}x",
            n,
            size_mb,
            ours.0,
            ours.1 as f64 / 1024.0,
            serde.0,
            serde.1 as f64 / 1024.0,
            ml_s,
            ml_mb,
            ours.0 / serde.0,
            ml_ratio,
            ours.1 as f64 / 1024.0 / size_mb,
        );
    }
}

/// The reference: deserialize both files into `IgnoredAny`, in parallel.
fn scan(paths: &[String]) {
    std::thread::scope(|s| {
        for p in paths {
            s.spawn(move || {
                let f = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(p).unwrap());
                let _: serde::de::IgnoredAny = serde_json::from_reader(f).unwrap();
            });
        }
    });
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

trait OutputOk {
    /// Run, check success, return peak RSS (KiB) of the child.
    fn output_ok(&mut self) -> i64;
}

impl OutputOk for Command {
    // The child is reaped by wait4, which also gives its peak RSS.
    #[allow(clippy::zombie_processes)]
    fn output_ok(&mut self) -> i64 {
        let child = self
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start a benchmark process");
        let mut status = 0;
        // SAFETY: rusage is plain data; wait4 fills it for our own child.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
        assert!(
            pid > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "{self:?} failed"
        );
        usage.ru_maxrss
    }
}

/// Median wall seconds and the largest peak RSS over `runs`.
fn measure(runs: usize, mut f: impl FnMut() -> i64) -> (f64, i64) {
    let mut times = Vec::new();
    let mut rss = 0;
    for _ in 0..runs {
        let t = Instant::now();
        rss = rss.max(f());
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], rss)
}

fn deno() -> PathBuf {
    let cache = cargo_memcheck::runtime::cache_dir();
    let deno = cargo_memcheck::runtime::Engine::Deno;
    cargo_memcheck::runtime::provision(deno, deno.default_version(), None, &cache)
        .expect("provision deno")
        .binary
}

/// A before/after pair around retaining `n` objects, made once.
fn pair(deno: &Path, work: &Path, n: u64) -> (PathBuf, PathBuf) {
    let before = work.join(format!("{n}-before.heapsnapshot"));
    let after = work.join(format!("{n}-after.heapsnapshot"));
    if before.is_file() && after.is_file() {
        return (before, after);
    }
    let script = work.join("make.js");
    std::fs::write(
        &script,
        r#"import v8 from "node:v8";
const [n, before, after] = Deno.args;
class Item { constructor(i) { this.i = i; this.tag = "item"; } }
globalThis.items = [];
gc();
v8.writeHeapSnapshot(before);
for (let i = 0; i < Number(n); i++) globalThis.items.push(new Item(i));
gc();
v8.writeHeapSnapshot(after);
"#,
    )
    .unwrap();
    let status = Command::new(deno)
        .args(["run", "--quiet", "--v8-flags=--expose-gc,--predictable"])
        .arg(format!("--allow-write={}", work.display()))
        .arg(&script)
        .arg(n.to_string())
        .arg(&before)
        .arg(&after)
        .status()
        .unwrap();
    assert!(status.success(), "making the {n} pair failed");
    (before, after)
}

/// Install memlab's heap analysis with npm (no install scripts); `None` if
/// npm cannot, so the rest of the table still prints.
fn install_memlab(work: &Path) -> Option<PathBuf> {
    let dir = work.join("memlab");
    if !dir.join("node_modules/@memlab/heap-analysis").is_dir() {
        std::fs::create_dir_all(&dir).unwrap();
        let ok = Command::new("npm")
            .args([
                "install",
                "--no-save",
                "--no-package-lock",
                "--ignore-scripts",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                "--prefix",
            ])
            .arg(&dir)
            .arg(MEMLAB)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("memlab could not be installed; its columns are left empty");
            return None;
        }
    }
    std::fs::write(
        dir.join("count.js"),
        r#"const { getFullHeapFromFile } = require("@memlab/heap-analysis");
(async () => {
  const [before, after] = process.argv.slice(2);
  const base = await getFullHeapFromFile(before);
  const current = await getFullHeapFromFile(after);
  const ids = new Set();
  base.nodes.forEach((node) => { ids.add(node.id); });
  let added = 0;
  current.nodes.forEach((node) => { if (!ids.has(node.id)) added++; });
  console.log(added);
})();
"#,
    )
    .unwrap();
    Some(dir)
}
