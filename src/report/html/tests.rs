use super::*;
use crate::diff::ConstructorDelta;

fn row(name: &str, new: u64) -> ConstructorDelta {
    ConstructorDelta {
        name: name.to_owned(),
        new,
        deleted: 0,
        delta: new as i64,
        alloc_size: new * 32,
        freed_size: 0,
        size_delta: new as i64 * 32,
    }
}

fn step(name: &str, rows: Vec<ConstructorDelta>) -> PageStep {
    PageStep {
        name: name.to_owned(),
        kind: StepKind::Block,
        line: Some(3),
        from: None,
        from_line: None,
        run_of: None,
        status: StepStatus::Passed,
        retained_objects: rows.iter().map(|r| r.new).sum(),
        retained_bytes: rows.iter().map(|r| r.alloc_size).sum(),
        freed_objects: 0,
        freed_bytes: 0,
        allocated_bytes: None,
        constructors: rows,
        retainers: Vec::new(),
        grown: Vec::new(),
        allocations: Vec::new(),
        baseline: None,
        budget: None,
        snapshots: None,
    }
}

fn page(test_name: &str, steps: Vec<PageStep>, source: &str) -> Page {
    Page {
        kind: PageKind::Run,
        title: "memcheck".to_owned(),
        generated_by: "cargo-memcheck test".to_owned(),
        runtimes: Vec::new(),
        tests: vec![PageTest {
            file: "a.memtest.js".to_owned(),
            engine: None,
            name: test_name.to_owned(),
            full_name: format!("a.memtest.js::{test_name}"),
            pending: false,
            status: TestStatus::Failed,
            message: Some(test_name.to_owned()),
            line: Some(1),
            steps,
        }],
        sources: [("a.memtest.js".to_owned(), source.to_owned())].into(),
        hints: Vec::new(),
    }
}

/// The text of the `<script type="application/json">` element.
fn data_of(html: &str) -> &str {
    let open = r#"<script type="application/json" id="memcheck-data">"#;
    let start = html.find(open).expect("data element") + open.len();
    let end = start + html[start..].find("</script>").expect("data closed");
    &html[start..end]
}

#[test]
fn data_cannot_close_its_script_element() {
    let hostile = "</script><script>alert(1)</script><!-- </SCRIPT >";
    let p = page(hostile, vec![step(hostile, vec![row(hostile, 1)])], hostile);
    let html = render(&p);
    let data = data_of(&html);
    assert!(!data.contains('<'), "{data}");
    // What the page parses is what was given.
    let parsed: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(parsed, serde_json::to_value(&p).unwrap());
    assert_eq!(parsed["tests"][0]["name"], hostile);
    // Exactly the page's scripts: its data, its live settings, its code.
    assert_eq!(html.matches("<script").count(), 3);
}

#[test]
fn only_the_live_page_may_talk_to_its_server_and_only_it_holds_the_token() {
    let p = page("t", Vec::new(), "");
    let settings = r#"<script type="application/json" id="memcheck-live">"#;
    let static_page = render(&p);
    assert!(!static_page.contains("connect-src"));
    assert!(static_page.contains(&format!("{settings}null</script>")));
    let live = Live {
        token: "0123abcd".to_owned(),
    };
    let live_page = render_with(&p, Some(&live));
    assert!(live_page.contains("form-action 'none'; connect-src 'self'\">"));
    assert!(live_page.contains(&format!(r#"{settings}{{"token":"0123abcd"}}</script>"#)));
    // The same code in both.
    assert!(live_page.contains(&script()) && static_page.contains(&script()));
}

#[test]
fn the_title_is_escaped() {
    let mut p = page("t", Vec::new(), "");
    p.title = "<b>&\"x\"</b>".to_owned();
    let html = render(&p);
    assert!(html.contains("<title>&lt;b&gt;&amp;&quot;x&quot;&lt;/b&gt;</title>"));
}

#[test]
fn the_policy_forbids_requests_and_allows_only_this_script() {
    let html = render(&page("t", Vec::new(), ""));
    assert!(html.contains("default-src 'none'"));
    assert!(html.contains("img-src data:"));
    let js = script();
    assert!(html.contains(&format!("script-src {}", script_hash(&js))));
    // The hash is of the script as the page holds it.
    assert!(html.contains(&format!("<script>{js}</script>")));
    for asset in [js.as_str(), CSS] {
        assert!(!asset.to_ascii_lowercase().contains("</script") && !asset.contains("<!--"));
        assert!(!asset.contains("http://") || asset.contains("www.w3.org/2000/svg"));
        assert!(!asset.contains("https://"));
    }
}

#[test]
fn the_size_follows_the_rows_not_the_heap() {
    let small = render(&page("t", vec![step("s", vec![row("A", 1)])], "x\n")).len();
    assert!(small < 100 * 1024, "an almost empty page is {small} bytes");
    // A million objects of one class cost their figures' digits, no more.
    let heavy = render(&page(
        "t",
        vec![step("s", vec![row("A", 1_000_000)])],
        "x\n",
    ))
    .len();
    assert!(heavy <= small + 64, "{heavy} vs {small}");
    // 100 rows cost about 100 rows.
    let rows = (0..100).map(|i| row(&format!("Class{i}"), 1)).collect();
    let wide = render(&page("t", vec![step("s", rows)], "x\n")).len();
    let per_row = (wide - small) / 99;
    assert!((80..200).contains(&per_row), "{per_row} bytes a row");
}

#[test]
fn placeholders_are_filled_once() {
    let out = fill("a {{x}} b {{y}} {{unknown}}", &[("x", "{{y}}"), ("y", "2")]);
    assert_eq!(out, "a {{y}} b 2 {{unknown}}");
}

#[test]
fn base64_matches_the_standard_vectors() {
    let cases = [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foobar", "Zm9vYmFy"),
    ];
    for (input, expected) in cases {
        assert_eq!(base64(input.as_bytes()), expected);
    }
}
