//! What users read. The run model (`model`) holds everything a run found;
//! each reporter renders it: the terminal's text (`terminal`, and the
//! failure text here: a textual diff of baseline against this run, budget
//! lines, the commands that update), `--json` (`json`), the `--html` page
//! (`html`), `--junit` (`junit`), GitHub's annotations and step summary
//! (`github`) and `--markdown` (`markdown`).

pub mod github;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
mod model;
pub mod terminal;

pub use model::{
    BaselineActivity, BlockReport, FileChanges, PendingFile, RunReport, Snapshots, Status,
    TestReport, UnreferencedEntry, with_runs,
};

use std::fmt::Write as _;

use similar::{ChangeTag, TextDiff};

use crate::diff::Comparison;
use crate::explain::{AllocationSite, GrownObject, RetainerPath};
use crate::measure::Fault;
use crate::repeat::Repetition;
use crate::runtime::{Exit, Unfinished};
use crate::text::{escape_controls, quote_name, shell_quote};
use crate::units::format_bytes;

/// Options a suggested run command repeats so that it picks the same runs
/// (`--engine node` when the engine was chosen on the command line); set
/// once, before any test is judged.
static RUN_FLAGS: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Remember the engine chosen on the command line for suggested commands.
pub fn suggest_engine(engine: crate::runtime::Engine) {
    let _ = RUN_FLAGS.set(format!(" --engine {engine}"));
}

/// A run command with `args`, after the options that pick the same runs.
pub fn run_command(args: &str) -> String {
    let flags = RUN_FLAGS.get().map_or("", String::as_str);
    format!("cargo memcheck{flags} {args}")
}

/// The command that records or refreshes one test's baseline.
pub fn update_command(full_name: &str) -> String {
    run_command(&format!("--update --exact {}", shell_quote(full_name)))
}

/// The command that accepts one test's pending baseline.
pub fn accept_command(full_name: &str) -> String {
    format!("cargo memcheck accept --exact {}", shell_quote(full_name))
}

/// A unified diff of two texts, `-baseline` / `+this run`, with context.
pub fn text_diff(old: &str, new: &str) -> String {
    let diff = TextDiff::from_lines(old, new);
    let mut out = String::new();
    let _ = writeln!(out, "--- baseline\n+++ this run");
    for group in diff.grouped_ops(4) {
        for op in group {
            for change in diff.iter_changes(&op) {
                let sign = match change.tag() {
                    ChangeTag::Delete => '-',
                    ChangeTag::Insert => '+',
                    ChangeTag::Equal => ' ',
                };
                let _ = write!(out, "{sign}{}", change.value());
                if change.missing_newline() {
                    out.push('\n');
                }
            }
        }
    }
    out
}

/// The Comparison view as a table, sorted as given (by allocated size);
/// class names, which tests choose, with their control characters written
/// out.
pub fn table(c: &Comparison) -> String {
    let names: Vec<String> = c
        .constructors
        .iter()
        .map(|r| escape_controls(&r.name))
        .collect();
    let width = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(11, 60);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<width$}  {:>8}  {:>9}  {:>8}  {:>12}  {:>12}  {:>12}",
        "Constructor", "# New", "# Deleted", "# Delta", "Alloc. Size", "Freed Size", "Size Delta"
    );
    for (r, name) in c.constructors.iter().zip(&names) {
        let name: String = name.chars().take(60).collect();
        let _ = writeln!(
            out,
            "{name:<width$}  {:>8}  {:>9}  {:>+8}  {:>12}  {:>12}  {:>+12}",
            r.new, r.deleted, r.delta, r.alloc_size, r.freed_size, r.size_delta
        );
    }
    let _ = writeln!(
        out,
        "retained: {} objects, {}; freed: {} objects, {}",
        c.retained_objects,
        format_bytes(c.retained_bytes),
        c.freed_objects,
        format_bytes(c.freed_bytes)
    );
    out
}

/// Retainer paths worth showing: those of the constructors that grew past
/// baseline or budget, or, when only totals grew, the top ones; at most 3
/// classes, each with its groups (`Function ×2000 of 2015: …`). One line
/// each: class and property names are the test's, escaped.
pub fn retainer_lines(paths: &[RetainerPath], grown: &[String], over: bool) -> Vec<String> {
    let wanted = |p: &&RetainerPath| {
        if grown.is_empty() {
            over
        } else {
            grown.contains(&p.constructor)
        }
    };
    let mut classes: Vec<&str> = Vec::new();
    paths
        .iter()
        .filter(wanted)
        .filter(|p| {
            if !classes.contains(&p.constructor.as_str()) {
                if classes.len() == 3 {
                    return false;
                }
                classes.push(&p.constructor);
            }
            true
        })
        .map(|p| {
            let of = if p.count == p.total {
                String::new()
            } else {
                format!(" of {}", p.total)
            };
            escape_controls(&format!("{} ×{}{of}: {}", p.constructor, p.count, p.path))
        })
        .collect()
}

/// Objects that grew in place, largest growth first: at most 3, then how
/// many more there are; one line each, escaped.
pub fn grown_lines(grown: &[GrownObject]) -> Vec<String> {
    let mut lines: Vec<String> = grown
        .iter()
        .take(3)
        .map(|g| {
            escape_controls(&format!(
                "{} grew {} → {}: {}",
                g.constructor,
                format_bytes(g.before),
                format_bytes(g.after),
                g.path
            ))
        })
        .collect();
    if grown.len() > 3 {
        lines.push(format!(
            "… {} more (all of them in --json and --html)",
            grown.len() - 3
        ));
    }
    lines
}

/// Allocation sites worth showing, chosen like [`retainer_lines`]: at most
/// 2 per class, 6 in all; one line each, escaped.
pub fn allocation_lines(sites: &[AllocationSite], grown: &[String], over: bool) -> Vec<String> {
    let wanted = |s: &&AllocationSite| {
        if grown.is_empty() {
            over
        } else {
            grown.contains(&s.constructor)
        }
    };
    let mut per_class: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let candidates: Vec<&AllocationSite> = sites.iter().filter(wanted).collect();
    let mut lines: Vec<String> = candidates
        .iter()
        .filter(|s| {
            let n = per_class.entry(&s.constructor).or_default();
            *n += 1;
            *n <= 2
        })
        .take(6)
        .map(|s| escape_controls(&format!("{} ×{}: {}", s.constructor, s.count, s.text())))
        .collect();
    let left = candidates.len() - lines.len();
    if left > 0 {
        lines.push(format!("… {left} more (all of them in --json and --html)"));
    }
    lines
}

/// The failure lines of a `repeat` block whose objects grew in every run.
pub fn leak_lines(r: &Repetition) -> Vec<String> {
    r.leaking
        .iter()
        .map(|g| {
            let runs: Vec<String> = g.deltas.iter().map(|d| format!("{d:+}")).collect();
            format!(
                "leak: {} grew in every one of {} runs ({} per run); repeated work must not keep objects",
                escape_controls(&g.name),
                g.deltas.len(),
                runs.join(" ")
            )
        })
        .collect()
}

/// A fault as a failure message, naming `file` escaped.
pub fn fault(f: &Fault, file: &str) -> String {
    let file = &escape_controls(file);
    match f {
        Fault::Load { message, stack } => {
            format!("{file} failed to load: {}", user_stack(message, stack))
        }
        Fault::NoTests => format!(
            "{file} declares no tests: add test(...) calls to it, or leave it out with `exclude` in memcheck.toml"
        ),
        Fault::Threw { message, stack } => {
            format!("the test threw: {}", user_stack(message, stack))
        }
        Fault::TimedOut(d) => format!(
            "timed out after {} ms; the runtime and its process group were killed (raise `timeout` on the test or in memcheck.toml)",
            d.as_millis()
        ),
        Fault::Crashed {
            exit,
            output,
            during,
        } => crashed(file, exit, output, during),
        Fault::Protocol(m) => format!(
            "memcheck could not trust this test's result: {m}\n(the harness's channel is its own; this is a bug in memcheck or in the runtime, or the test wrote to the channel on purpose)"
        ),
        Fault::Internal(m) => format!("memcheck could not measure this test: {m}"),
        Fault::Misuse(m) => m.clone(),
        Fault::SentSignal(signal) => format!(
            "the test sent {signal} to the runner; its process group was killed (a test may signal only its own process)"
        ),
    }
}

/// The runtime ended before the harness said how the test went.
fn crashed(file: &str, exit: &Exit, output: &str, during: &Unfinished) -> String {
    // The runtime's words when its event loop empties while the harness
    // awaits (Deno's, then Node's).
    let stalled = output.contains("Top-level await promise never resolved")
        || output.contains("unsettled top-level await");
    let output = without_harness_lines(output);
    let tail: Vec<&str> = output.lines().rev().take(20).collect::<Vec<_>>();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    let mut hint = String::new();
    if output.contains("JavaScript out of memory")
        || output.contains("JavaScript heap out of memory")
    {
        hint.push_str(
            "\nthe JavaScript heap reached its limit: the test keeps more than V8 may hold \
             (a leak?), or needs a larger heap: v8_flags = [\"--max-old-space-size=MiB\"] \
             under [runtime] in memcheck.toml",
        );
    }
    if let Exit::Crashed(why) = exit {
        let at = match during {
            Unfinished::Block(name) => format!(" during block {}", quote_name(name)),
            Unfinished::Checkpoint(name) => {
                format!(" while checkpoint {} was taken", quote_name(name))
            }
            Unfinished::Loading => format!(" while {file} loaded"),
            _ => String::new(),
        };
        return format!(
            "{why}{at}; only this test fails, the next one gets a new page{hint}\n{}",
            tail.join("\n")
        );
    }
    let head = match during {
        Unfinished::Loading if stalled => {
            // The runtime's own message points into the harness: leave it out.
            return format!(
                "{file} did not finish loading: a top-level `await` in it (or in a module it imports) never settled"
            );
        }
        Unfinished::Loading => format!(
            "{file} did not finish loading: the runtime ended with {exit} while its top-level code ran"
        ),
        Unfinished::Block(name) if stalled => {
            return format!(
                "block {} never finished: it awaits a promise that nothing is left to settle (no timer, no I/O), so the runtime stopped",
                quote_name(name)
            );
        }
        Unfinished::Checkpoint(name) if stalled => {
            return format!(
                "checkpoint {} never finished: the runtime stopped while it was taken",
                quote_name(name)
            );
        }
        Unfinished::Test if stalled => {
            return "the test never finished: it awaits a promise that nothing is left to settle (no timer, no I/O), so the runtime stopped".to_owned();
        }
        Unfinished::Block(name) => format!(
            "the test exited before block {} ended (the runtime ended with {exit})",
            quote_name(name)
        ),
        Unfinished::Checkpoint(name) => format!(
            "the test exited while checkpoint {} was taken (the runtime ended with {exit})",
            quote_name(name)
        ),
        Unfinished::Test => format!("the runtime ended with {exit} before the test finished"),
        Unfinished::Silent => {
            format!("the runtime ended with {exit} before the harness started")
        }
    };
    format!("{head}{hint}\n{}", tail.join("\n"))
}

/// Output with the lines that only point into the harness left out.
fn without_harness_lines(output: &str) -> String {
    output
        .lines()
        .filter(|l| !l.contains("/harness-"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A JS error as users want it: the message, then the stack frames that are
/// not the harness's, with paths made relative.
fn user_stack(message: &str, stack: &str) -> String {
    let mut out = relative_urls(message);
    // V8's stack repeats the message first; keep only the frames after it.
    // The lines before the first frame repeat the message (a runtime may
    // have written its characters differently).
    let frames = stack.strip_prefix(message).unwrap_or(stack);
    let frames = match frames.find("\n    at ") {
        Some(_) if frames.trim_start().starts_with("at ") => frames,
        Some(i) => &frames[i..],
        None => frames,
    };
    for line in frames.lines() {
        let trimmed = line.trim_start();
        // The harness's frames and the runtime's own (`ext:`) say nothing
        // about the test.
        if trimmed.is_empty() || line.contains("/harness-") || runtime_frame(trimmed) {
            continue;
        }
        if !trimmed.starts_with("at ") && out.contains(trimmed) {
            continue;
        }
        out.push('\n');
        out.push_str(&relative_urls(line));
    }
    out
}

/// A stack frame inside the runtime itself (Deno's `ext:`, Node's `node:`).
fn runtime_frame(frame: &str) -> bool {
    ["(ext:", "at ext:", "(node:", "at node:"]
        .iter()
        .any(|m| frame.contains(m))
}

/// Paths in messages as users read them (see [`crate::explain::relative_urls`]).
fn relative_urls(text: &str) -> String {
    crate::explain::relative_urls(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_frames_are_left_out() {
        let stack = "Error: x\n    at f (a.js:1:2)\n    at g (ext:core/01_core.js:3:4)\n    at h (node:internal/x:5:6)";
        assert_eq!(
            user_stack("Error: x", stack),
            "Error: x\n    at f (a.js:1:2)"
        );
    }

    #[test]
    fn path_groups_say_their_share_and_grown_objects_both_sizes() {
        let path = |constructor: &str, path: &str, count, total| RetainerPath {
            constructor: constructor.into(),
            path: path.into(),
            count,
            total,
        };
        let paths = [
            path(
                "Function",
                "(module log.js) ::loggers → Array [i] → Function",
                2000,
                2015,
            ),
            path(
                "Function",
                "(module log.js) ::stream → Writable ._destroy → Function",
                15,
                2015,
            ),
            path(
                "Session",
                "(global) .sessions → Array [i] → Session",
                100,
                100,
            ),
            path("Entry", "a", 1, 1),
            path("Widget", "b", 1, 1),
        ];
        assert_eq!(
            retainer_lines(&paths, &[], true),
            [
                "Function ×2000 of 2015: (module log.js) ::loggers → Array [i] → Function",
                "Function ×15 of 2015: (module log.js) ::stream → Writable ._destroy → Function",
                "Session ×100: (global) .sessions → Array [i] → Session",
                "Entry ×1: a",
            ],
            "three classes, each with its groups"
        );
        assert_eq!(
            retainer_lines(&paths, &["Session".into()], true),
            ["Session ×100: (global) .sessions → Array [i] → Session"]
        );
        let grown = |n: u64| GrownObject {
            constructor: "Object".into(),
            path: format!("(module e.js) ::emitter → Emitter ._callbacks{n} → Object"),
            before: 184,
            after: 50_176,
        };
        let all: Vec<GrownObject> = (0..5).map(grown).collect();
        assert_eq!(
            grown_lines(&all[..1]),
            [
                "Object grew 184 B → 49.00 KiB: (module e.js) ::emitter → Emitter ._callbacks0 → Object"
            ]
        );
        let lines = grown_lines(&all);
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[3], "… 2 more (all of them in --json and --html)");
    }

    #[test]
    fn diff_marks_changed_lines() {
        let d = text_diff("a = 1\nb = 2\n", "a = 1\nb = 3\n");
        assert!(d.contains("-b = 2\n+b = 3\n"), "{d}");
        assert!(d.contains(" a = 1\n"), "{d}");
    }
}
