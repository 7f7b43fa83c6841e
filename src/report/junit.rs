//! `--junit PATH`: JUnit XML, the format CI test tabs read, written with
//! the `quick-junit` crate as cargo-nextest writes its own. One `testsuite`
//! per test file; one `testcase` per test (`classname` the file, `name` the
//! test) with its time, a `failure` carrying the first reason as its
//! message and the whole failure text, the test's output in `system-out`;
//! ignored tests are `skipped`.
//!
//! Names are the JSON's, newlines, tabs and carriage returns included
//! (written as character references, which parsers keep); the other
//! control characters, which XML 1.0 cannot hold, are written out as on the
//! terminal (`\u{7}`), never dropped. Text content is as the terminal shows
//! it.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::{RunReport, Status, TestReport};
use crate::text::{escape_controls, escape_text};

/// The report as XML.
pub fn render(report: &RunReport) -> anyhow::Result<String> {
    let mut xml = Report::new("cargo-memcheck");
    let mut total = Duration::ZERO;
    // One suite per file on its engine, in the order first seen.
    let mut files: Vec<String> = Vec::new();
    for key in report.tests.iter().map(TestReport::file_key) {
        if !files.contains(&key) {
            files.push(key);
        }
    }
    for file in files {
        let mut suite = TestSuite::new(xml_name(&file));
        for test in report.tests.iter().filter(|t| t.file_key() == file) {
            total += test.duration.unwrap_or_default();
            suite.add_test_case(case(test));
        }
        xml.add_test_suite(suite);
    }
    xml.set_time(total);
    Ok(finish(&xml.to_string()?))
}

/// Write the report to `path`.
pub fn write(report: &RunReport, path: &Path) -> anyhow::Result<()> {
    std::fs::write(path, render(report)?)
        .with_context(|| format!("cannot write the JUnit report to {}", path.display()))
}

fn case(test: &TestReport) -> TestCase {
    let status = match test.status {
        Status::Passed => TestCaseStatus::success(),
        Status::Ignored => TestCaseStatus::skipped(),
        Status::Failed => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let text = test.message.as_deref().unwrap_or_default();
            let grew = test.blocks.iter().any(|b| b.failed());
            s.set_message(xml_text(&escape_controls(&first_reason(test))))
                .set_type(if grew { "memory" } else { "fault" })
                .set_description(xml_text(text));
            s
        }
    };
    let mut case = TestCase::new(xml_name(&test.name), status);
    case.set_classname(xml_name(&test.file_key()));
    if let Some(d) = test.duration {
        case.set_time(d);
    }
    if !test.output.is_empty() {
        case.set_system_out(xml_text(&test.output));
    }
    case
}

/// Stand-ins for the tab and the carriage return, which `quick-junit`
/// drops: noncharacters, turned into character references once the XML is
/// written (see [`finish`]).
const TAB: char = '\u{fdd0}';
const CR: char = '\u{fdd1}';

/// A name as JUnit carries it: the JSON's, but for the control characters
/// XML 1.0 cannot hold (all but tab, newline and carriage return), U+FFFE,
/// U+FFFF and the stand-ins, which are written out as on the terminal.
fn xml_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\t' => out.push(TAB),
            '\r' => out.push(CR),
            '\n' => out.push(c),
            c if c.is_control() || matches!(c, '\u{fffe}' | '\u{ffff}' | TAB | CR) => {
                out.extend(c.escape_default());
            }
            c => out.push(c),
        }
    }
    out
}

/// Text content (and the failure's one-line message) as JUnit carries it:
/// as the terminal shows it, newlines and tabs kept, other control
/// characters written out.
fn xml_text(s: &str) -> String {
    xml_name(&escape_text(s))
}

/// The written XML with the stand-ins, and the newlines inside attribute
/// values, as character references: parsers keep those, and turn raw
/// breaks in attributes into spaces. Text content never holds a raw `<`,
/// and attribute values never a raw `"`, so tags and values are found by
/// those two.
fn finish(xml: &str) -> String {
    let mut out = String::with_capacity(xml.len());
    let (mut in_tag, mut in_value) = (false, false);
    for c in xml.chars() {
        match c {
            '<' if !in_tag => in_tag = true,
            '>' if in_tag && !in_value => in_tag = false,
            '"' if in_tag => in_value = !in_value,
            '\n' if in_value => {
                out.push_str("&#10;");
                continue;
            }
            TAB => {
                out.push_str("&#9;");
                continue;
            }
            CR => {
                out.push_str("&#13;");
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

/// The failure's headline: the first failing block's first reason, or the
/// message's first line.
fn first_reason(test: &TestReport) -> String {
    let from_block = test.blocks.iter().find_map(|b| {
        let reason = b.failures.first()?;
        Some(format!("{}: {reason}", b.title()))
    });
    from_block.unwrap_or_else(|| {
        let message = test.message.as_deref().unwrap_or_default();
        message.lines().next().unwrap_or_default().to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::BlockReport;

    #[test]
    fn a_failure_carries_its_reason_text_and_output() {
        let failing = TestReport {
            file: "a.memtest.js".into(),
            name: "grows <fast>".into(),
            status: Status::Failed,
            message: Some("block \"b\":\n  retained objects: 3 > baseline 1".into()),
            output: "printed \u{1b}[31mred\u{1b}[0m".into(),
            duration: Some(Duration::from_millis(1500)),
            blocks: vec![BlockReport {
                name: "b".into(),
                failures: vec!["retained objects: 3 > baseline 1".into()],
                ..BlockReport::default()
            }],
            ..TestReport::default()
        };
        let ignored = TestReport {
            file: "a.memtest.js".into(),
            name: "later".into(),
            status: Status::Ignored,
            ..TestReport::default()
        };
        let report = RunReport {
            tests: vec![failing, ignored],
            ..RunReport::default()
        };
        let xml = render(&report).unwrap();
        assert!(xml.contains("name=\"grows &lt;fast&gt;\""), "{xml}");
        assert!(xml.contains("classname=\"a.memtest.js\""), "{xml}");
        assert!(xml.contains("time=\"1.500\""), "{xml}");
        assert!(
            xml.contains("message=\"block &quot;b&quot;: retained objects: 3 &gt; baseline 1\""),
            "{xml}"
        );
        // Written out, as on the terminal: never dropped.
        assert!(
            xml.contains("<system-out>printed \\u{1b}[31mred\\u{1b}[0m</system-out>"),
            "{xml}"
        );
        assert!(xml.contains("<skipped/>"), "{xml}");
    }

    /// What a JUnit name should read after parsing: the name itself, but
    /// for control characters other than tab, newline and carriage return,
    /// U+FFFE, U+FFFF, U+FDD0 and U+FDD1, written out.
    fn as_parsed(name: &str) -> String {
        name.chars()
            .map(|c| match c {
                '\t' | '\n' | '\r' => c.to_string(),
                c if c.is_control() || ('\u{fdd0}'..='\u{fdd1}').contains(&c) => {
                    c.escape_default().to_string()
                }
                '\u{fffe}' | '\u{ffff}' => c.escape_default().to_string(),
                c => c.to_string(),
            })
            .collect()
    }

    /// Whatever tests name, print or throw, the XML parses, and each
    /// testcase's name and classname read as the JSON's (see [`as_parsed`]).
    /// Run longer with `MEMCHECK_FUZZ_ITERS=100000 cargo test --lib random_text`.
    #[test]
    fn random_text_always_parses_and_keeps_names() {
        let mut next = crate::fuzz::rng();
        let mut raw = || crate::fuzz::hostile_text(&mut next);
        for i in 0..crate::fuzz::iterations(3000) {
            let tests: Vec<TestReport> = (0..3)
                .map(|t| TestReport {
                    file: raw(),
                    name: raw(),
                    status: [Status::Failed, Status::Passed, Status::Ignored][(i as usize + t) % 3],
                    message: Some(raw()),
                    output: raw(),
                    blocks: vec![BlockReport {
                        name: raw(),
                        failures: vec![raw()],
                        ..BlockReport::default()
                    }],
                    ..TestReport::default()
                })
                .collect();
            let report = RunReport {
                tests,
                ..RunReport::default()
            };
            let xml = render(&report).unwrap();
            let doc = roxmltree::Document::parse(&xml)
                .unwrap_or_else(|e| panic!("{e}:\n{xml:?}\nfrom {report:#?}"));
            let mut files: Vec<String> = Vec::new();
            for t in &report.tests {
                if !files.contains(&t.file_key()) {
                    files.push(t.file_key());
                }
            }
            let expected: Vec<(String, String)> = files
                .iter()
                .flat_map(|f| report.tests.iter().filter(move |t| &t.file_key() == f))
                .map(|t| (as_parsed(&t.name), as_parsed(&t.file_key())))
                .collect();
            let cases: Vec<(String, String)> = doc
                .descendants()
                .filter(|n| n.has_tag_name("testcase"))
                .map(|c| {
                    let attr = |a| c.attribute(a).unwrap_or_default().to_owned();
                    (attr("name"), attr("classname"))
                })
                .collect();
            assert_eq!(cases, expected, "{xml:?}");
        }
    }
}
