//! The Markdown summary, for GitHub's step summary and `--markdown PATH`
//! (a pull-request comment): a table of the blocks that failed or whose
//! figures changed (test, block, retained objects and bytes against the
//! baseline, the classes that grew most, the budget), the counts, then
//! each failure's text folded away.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;

use super::{BlockReport, RunReport, Status, TestReport};
use crate::steps::BlockKind;
use crate::units::format_bytes;

/// The longest failure text shown in full; longer ones are cut.
const MAX_FAILURE: usize = 4000;

pub fn render(report: &RunReport) -> String {
    let failed = report.count(Status::Failed);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### cargo memcheck: {}\n",
        if failed == 0 { "passed" } else { "FAILED" }
    );
    let rows = rows(report);
    if !rows.is_empty() {
        out.push_str(
            "| | Test | Block | Retained objects | Retained bytes | Grew most | Budget |\n\
             |---|---|---|---|---|---|---|\n",
        );
        for row in rows {
            let _ = writeln!(out, "{row}");
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "{} passed; {failed} failed; {} ignored\n",
        report.count(Status::Passed),
        report.count(Status::Ignored)
    );
    out.push_str(&failures(report));
    out
}

/// Write the summary to `path`.
pub fn write(report: &RunReport, path: &Path) -> anyhow::Result<()> {
    std::fs::write(path, render(report))
        .with_context(|| format!("cannot write the Markdown summary to {}", path.display()))
}

/// A row per block that failed or changed; a failed test that measured
/// nothing gets one row of its own.
fn rows(report: &RunReport) -> Vec<String> {
    let mut rows = Vec::new();
    for test in &report.tests {
        let test_name = cell(&test.full_name());
        if test.status == Status::Failed && !test.blocks.iter().any(BlockReport::failed) {
            let first = test.message.as_deref().unwrap_or_default();
            let why = first.lines().next().unwrap_or_default();
            rows.push(format!(
                "| ❌ | {test_name} | {} | | | | |",
                cell(&format!("did not measure: {why}"))
            ));
            continue;
        }
        let judged = test.blocks.iter().filter(|b| b.kind != BlockKind::Run);
        for block in judged.filter(|b| b.failed() || b.changed()) {
            rows.push(block_row(test, &test_name, block));
        }
    }
    rows
}

fn block_row(test: &TestReport, test_name: &str, b: &BlockReport) -> String {
    let mark = if b.failed() {
        "❌"
    } else if test.status == Status::Passed {
        "changed"
    } else {
        ""
    };
    let base = b.baseline.as_ref();
    let objects = against(b.retained_objects, base.map(|x| x.retained_objects), |v| {
        v.to_string()
    });
    let bytes = against(
        b.retained_bytes,
        base.map(|x| x.retained_bytes),
        format_bytes,
    );
    let grown: Vec<String> = b
        .top_grown(3)
        .iter()
        .map(|(name, n)| format!("{name} +{n}"))
        .collect();
    format!(
        "| {mark} | {test_name} | {} | {objects} | {bytes} | {} | {} |",
        cell(&b.name),
        cell(&grown.join(", ")),
        cell(b.budget.as_deref().unwrap_or("")),
    )
}

/// `now (baseline B, ±D)`, or `now (no baseline)`.
fn against(now: u64, base: Option<u64>, show: impl Fn(u64) -> String) -> String {
    match base {
        None => format!("{} (no baseline)", show(now)),
        Some(b) if b == now => show(now),
        Some(b) => {
            let sign = if now > b { "+" } else { "−" };
            format!(
                "{} (baseline {}, {sign}{})",
                show(now),
                show(b),
                show(now.abs_diff(b))
            )
        }
    }
}

/// Each failing test's text, folded.
fn failures(report: &RunReport) -> String {
    let mut out = String::new();
    for test in report.failed() {
        let text = test.message.as_deref().unwrap_or_default();
        let shown: String = text.chars().take(MAX_FAILURE).collect();
        let cut = if shown.len() < text.len() {
            "\n…"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "<details><summary>{}</summary>\n\n```text\n{}{cut}\n```\n\n</details>\n",
            html(&test.full_name()),
            shown.replace("```", "'''")
        );
    }
    out
}

/// Text for a table cell: one line (control characters written out),
/// Markdown and HTML inert.
fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in crate::text::escape_controls(s).chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '#' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::BlockBaseline;
    use crate::diff::ConstructorDelta;

    #[test]
    fn the_table_names_the_grown_class_against_the_baseline() {
        let entries = ConstructorDelta {
            name: "CacheEntry".into(),
            new: 150,
            deleted: 0,
            delta: 150,
            alloc_size: 4800,
            freed_size: 0,
            size_delta: 4800,
        };
        let block = BlockReport {
            name: "insert".into(),
            retained_objects: 150,
            retained_bytes: 4800,
            constructors: vec![entries],
            failures: vec!["CacheEntry new: 150 > baseline 100".into()],
            baseline: Some(BlockBaseline {
                retained_objects: 100,
                retained_bytes: 3200,
                ..BlockBaseline::default()
            }),
            ..BlockReport::default()
        };
        let test = TestReport {
            file: "cache.memtest.js".into(),
            name: "stays | bounded".into(),
            status: Status::Failed,
            message: Some("block \"insert\":\n  CacheEntry new".into()),
            blocks: vec![block],
            ..TestReport::default()
        };
        let passed = TestReport {
            status: Status::Passed,
            ..TestReport::default()
        };
        let report = RunReport {
            tests: vec![test, passed],
            ..RunReport::default()
        };
        let md = render(&report);
        assert!(
            md.contains("| ❌ | cache.memtest.js::stays \\| bounded | insert | 150 (baseline 100, +50) | 4.69 KiB (baseline 3.12 KiB, +1.56 KiB) | CacheEntry +150 |  |"),
            "{md}"
        );
        assert!(md.contains("1 passed; 1 failed; 0 ignored"), "{md}");
        assert!(
            md.contains("<details><summary>cache.memtest.js::stays | bounded</summary>"),
            "{md}"
        );
    }
}
