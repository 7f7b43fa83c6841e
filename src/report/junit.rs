//! `--junit PATH`: JUnit XML, the format CI test tabs read, written with
//! the `quick-junit` crate as cargo-nextest writes its own. One `testsuite`
//! per test file; one `testcase` per test (`classname` the file, `name` the
//! test) with its time, a `failure` carrying the first reason as its
//! message and the whole failure text, the test's output in `system-out`;
//! ignored tests are `skipped`.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::{RunReport, Status, TestReport};

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
        let mut suite = TestSuite::new(file.as_str());
        for test in report.tests.iter().filter(|t| t.file_key() == file) {
            total += test.duration.unwrap_or_default();
            suite.add_test_case(case(test));
        }
        xml.add_test_suite(suite);
    }
    xml.set_time(total);
    Ok(xml.to_string()?)
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
            s.set_message(first_reason(test))
                .set_type(if grew { "memory" } else { "fault" })
                .set_description(text);
            s
        }
    };
    let mut case = TestCase::new(test.name.as_str(), status);
    case.set_classname(test.file_key());
    if let Some(d) = test.duration {
        case.set_time(d);
    }
    if !test.output.is_empty() {
        case.set_system_out(test.output.as_str());
    }
    case
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
        assert!(
            xml.contains("<system-out>printed red</system-out>"),
            "{xml}"
        );
        assert!(xml.contains("<skipped/>"), "{xml}");
    }
}
