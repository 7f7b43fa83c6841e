//! The terminal's text: each failure as libtest prints it, then, after
//! libtest's own, each passing test's blocks and steps (`--show-output`, as
//! libtest's "successes" section), notes on figures that improved, and what
//! happened to baselines: every figure `--update` changed, the pending files
//! left for review, unreferenced entries. What tests print or name reaches
//! it with its control characters written out; under GitHub Actions, no line
//! of it is a workflow command (see [`for_github`]).

use std::fmt::Write as _;

use super::{RunReport, Status, TestReport};
use crate::baseline::stale::Unreferenced;
use crate::steps::BlockKind;
use crate::{color, text, verdict};

/// A failure message (already escaped) as libtest prints it: memcheck's
/// colour on its baseline diffs, and disarmed under GitHub.
pub fn failure(message: &str, colour: bool, github: bool) -> String {
    let painted = if colour {
        color::paint_diffs(message)
    } else {
        message.to_owned()
    };
    for_github(painted, github)
}

/// Text for stdout or stderr: under GitHub Actions (`github`), with no
/// line its runner would take for a workflow command. memcheck's own
/// commands are printed apart (see `github`).
pub fn for_github(text: String, github: bool) -> String {
    if github {
        text::disarm_workflow_commands(&text)
    } else {
        text
    }
}

/// libtest's "successes" section: each passing test's blocks and output;
/// empty when no test passed.
pub fn successes(report: &RunReport) -> String {
    let mut passed: Vec<(String, &TestReport)> = report
        .tests
        .iter()
        .filter(|t| t.status == Status::Passed)
        .map(|t| (t.full_name(), t))
        .collect();
    if passed.is_empty() {
        return String::new();
    }
    passed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::from("successes:\n");
    for (name, test) in &passed {
        let _ = write!(out, "\n---- {name} ----\n");
        // A `repeat` block's summary has its runs already.
        for block in test.blocks.iter().filter(|b| b.kind != BlockKind::Run) {
            out.push_str(&verdict::summary(block));
        }
        if !test.output.trim().is_empty() {
            let output = text::escape_text(test.output.trim_end());
            let _ = writeln!(out, "--- output ---\n{output}");
        }
    }
    let _ = writeln!(out, "\nsuccesses:");
    for (name, _) in &passed {
        let _ = writeln!(out, "    {name}");
    }
    out
}

/// `--timings`: where each test's time went, then the suite's totals.
pub fn timings(report: &RunReport) -> String {
    let rows: Vec<(String, crate::timings::Timings)> = report
        .tests
        .iter()
        .filter_map(|t| Some((t.full_name(), t.timings?)))
        .collect();
    format!("\ntimings:\n{}", crate::timings::table(&rows))
}

/// Notes, then baselines updated, pending and unreferenced (for stderr).
pub fn after_run(report: &RunReport, unreferenced: Unreferenced) -> String {
    let mut out = String::new();
    for note in &report.notes {
        let _ = writeln!(out, "{note}");
    }
    for file in &report.baselines.updated {
        let _ = writeln!(out, "memcheck: updated {}:", file.path);
        for change in &file.changes {
            let _ = writeln!(out, "    {change}");
        }
    }
    let pending = &report.baselines.pending;
    if !pending.is_empty() {
        let tests: usize = pending.iter().map(|p| p.tests.len()).sum();
        let _ = writeln!(
            out,
            "memcheck: pending baselines for {tests} test{} in {} file{} (this run's figures where they differ from the committed baselines, which are unchanged):",
            if tests == 1 { "" } else { "s" },
            pending.len(),
            if pending.len() == 1 { "" } else { "s" }
        );
        for file in pending {
            let n = file.tests.len();
            let _ = writeln!(
                out,
                "    {} ({n} test{})",
                file.path,
                if n == 1 { "" } else { "s" }
            );
        }
        let _ = writeln!(
            out,
            "  review them: cargo memcheck review\n  accept them all: cargo memcheck accept"
        );
    }
    out.push_str(&unreferenced_text(report, unreferenced));
    out
}

fn unreferenced_text(report: &RunReport, mode: Unreferenced) -> String {
    let mut out = String::new();
    let entries = &report.baselines.unreferenced;
    if entries.is_empty() || mode == Unreferenced::Ignore {
        return out;
    }
    let lead = match mode {
        Unreferenced::Delete => "memcheck: deleted unreferenced",
        Unreferenced::Reject => "error: unreferenced",
        _ => "memcheck: warning: unreferenced",
    };
    for e in entries {
        let _ = match &e.test {
            Some(t) => writeln!(
                out,
                "{lead} entry in {}: {} is no test of its file (renamed or deleted?)",
                e.path,
                crate::text::quote_name(t)
            ),
            None => writeln!(
                out,
                "{lead} file {}: its test file no longer exists",
                e.path
            ),
        };
    }
    if mode == Unreferenced::Warn {
        let _ = writeln!(out, "  delete them: cargo memcheck --unreferenced=delete");
    }
    out
}
