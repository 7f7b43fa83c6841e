//! Parser tests on tiny hand-written snapshots.

use super::*;

/// The meta block every test snapshot uses, with `node_fields` given.
fn meta(node_fields: &str) -> String {
    format!(
        r#"{{"meta":{{"node_fields":{node_fields},"node_types":[["hidden","array","string","object","code","closure","regexp","number","native","synthetic"],"string","number","number","number","number"],"edge_fields":["type","name_or_index","to_node"],"edge_types":[["context","element","property","internal","hidden","shortcut","weak"],"string_or_number","node"]}},"node_count":4,"edge_count":3}}"#
    )
}

/// ```text
///   (root) ──.x"y──▶ Widget#3 ──[0]──▶ é\n😀#5 (an object with an escaped name)
///      └─────weak──▶ Widget#3
/// ```
/// plus a lone string node #7, whose contents ("x\"y") are not kept.
fn tiny() -> String {
    format!(
        r#"{{"snapshot":{},
"nodes":[9,0,1,0,2, 3,1,3,32,1, 3,2,5,24,0, 2,5,7,16,0],
"edges":[2,3,5, 6,4,5, 1,0,10],
"strings":["","Widget","\u00e9\n\ud83d\ude00","x\"y","w","secret"]}}"#,
        meta(r#"["type","name","id","self_size","edge_count"]"#)
    )
}

#[test]
fn reads_nodes_edges_and_escaped_strings() {
    let s = parse(tiny().as_bytes()).unwrap();
    assert_eq!(s.node_count(), 4);
    assert_eq!(s.edge_count(), 3);
    assert_eq!(s.node_type_name(1), "object");
    assert_eq!(s.name(1), "Widget");
    assert_eq!((s.id(1), s.self_size(1)), (3, 32));
    assert_eq!(s.name(2), "é\n😀");
    assert_eq!(s.name(3), "", "string contents are not kept");
    assert_eq!(s.strings.get(5), "");
    assert_eq!(s.strings.get(3), "x\"y", "kept: it names an edge");
    assert_eq!(s.edges(0), 0..2);
    assert_eq!(s.edge_to(0), 1);
    assert_eq!(s.edge_label(0), ".x\"y");
    assert_eq!(s.edge_type_name(1), "weak");
    assert_eq!(s.edges(1), 2..3);
    assert_eq!(s.edge_to(2), 2);
    assert_eq!(s.edge_label(2), "[0]");
    assert!(s.has_js_objects());
    assert!(!s.has_allocation_traces());
}

#[test]
fn field_order_comes_from_meta() {
    // Same graph, fields reordered and one unknown field added.
    let text = format!(
        r#"{{"snapshot":{},
"nodes":[1,0,9,0,2,7, 3,32,3,1,1,0, 5,24,3,2,0,0, 7,16,2,5,0,0],
"edges":[2,3,6, 6,4,6, 1,0,12],
"strings":["","Widget","\u00e9\n\ud83d\ude00","x\"y","w","secret"]}}"#,
        meta(r#"["id","self_size","type","name","edge_count","detachedness"]"#)
    );
    let a = parse(tiny().as_bytes()).unwrap();
    let b = parse(text.as_bytes()).unwrap();
    for n in 0..4 {
        assert_eq!(
            (a.id(n), a.name(n), a.self_size(n), a.edges(n)),
            (b.id(n), b.name(n), b.self_size(n), b.edges(n))
        );
    }
    assert_eq!(a.edge_to, b.edge_to);
}

#[test]
fn unknown_sections_are_skipped() {
    let text = tiny().replacen(
        r#""nodes""#,
        r#""samples":[],"locations":[1,2,3,4],"extra":{"a":[true,null,-1.5e3,"s"]},"nodes""#,
        1,
    );
    let s = parse(text.as_bytes()).unwrap();
    assert_eq!(s.node_count(), 4);
    // A long number array with newlines, skipped eight bytes at a time,
    // then a value the byte path has to see.
    let long: Vec<String> = (0..5000u64).map(|i| (i * 7919).to_string()).collect();
    let text = tiny().replacen(
        r#""nodes""#,
        &format!(
            r#""locations":[{}],"x":[1,[2,{{"y":"]"}}]],"nodes""#,
            long.join(",\n")
        ),
        1,
    );
    assert_eq!(parse(text.as_bytes()).unwrap().node_count(), 4);
    let bad = tiny().replacen(r#""nodes""#, r#""locations":[1,2,@],"nodes""#, 1);
    assert!(parse(bad.as_bytes()).is_err());
}

#[test]
fn allocation_traces_are_read() {
    let text = r#"{"snapshot":{"meta":{"node_fields":["type","name","id","self_size","edge_count","trace_node_id"],"node_types":[["synthetic","object"]],"edge_fields":["type","name_or_index","to_node"],"edge_types":[["property"]],"trace_function_info_fields":["function_id","name","script_name","script_id","line","column"],"trace_node_fields":["id","function_info_index","count","size","children"]}},
"nodes":[0,0,1,0,1,0, 1,1,3,32,0,3],
"edges":[0,1,6],
"trace_function_infos":[1,2,3,9,10,5, 2,4,3,9,20,1],
"trace_tree":[1,0,0,0,[2,0,0,0,[3,1,1,32,[]]]],
"strings":["","Widget","outer","file:///a.js","inner"]}"#;
    let s = parse(text.as_bytes()).unwrap();
    assert!(s.has_allocation_traces());
    let stack = s.allocation_stack(1);
    let names: Vec<&str> = stack.iter().map(|f| f.function.as_str()).collect();
    assert_eq!(names, ["inner", "outer", "outer"]);
    assert_eq!(
        (stack[0].script.as_str(), stack[0].line, stack[0].column),
        ("file:///a.js", 20, 1)
    );
}

#[test]
fn malformed_snapshots_are_errors() {
    let cases = [
        (r#"{}"#, "`snapshot` is missing"),
        (r#"{"snapshot": 5}"#, "unexpected `5` at byte 13"),
        (r#"[1,2]"#, "unexpected `[` at byte 0"),
        (
            &tiny().replace(r#""strings""#, r#""strangs""#),
            "`strings` is missing",
        ),
        (
            &tiny().replace("9,0,1,0,2, 3", "9,0,1,0,2, 3,4"),
            "not a multiple of its 5 fields",
        ),
        (
            &tiny().replace("1,0,10]", "1,0,11]"),
            "edge 2 points at nodes[11]",
        ),
        (
            &tiny().replace("[2,3,5, 6,4,5, 1,0,10]", "[2,3,5, 6,4,5]"),
            "the nodes declare 3 edges",
        ),
        (&tiny().replace("9,0,1,0,2,", "9,99,1,0,2,"), "string 99"),
        (
            &tiny().replace(r#""type","name","id""#, r#""type","nom","id""#),
            "no `name` field",
        ),
    ];
    for (text, expected) in cases {
        let err = match parse(text.as_bytes()) {
            Ok(_) => panic!("parsed, expected {expected:?}: {text}"),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains(expected),
            "{text}\n  gave: {err}\n  expected: {expected}"
        );
    }
}

/// Every strict prefix of a valid snapshot is an error (never a panic), and
/// a cut inside `nodes` says where the file ends.
#[test]
fn every_truncation_is_an_error() {
    let text = tiny();
    let bytes = text.as_bytes();
    let nodes_at = text.find(r#""nodes":["#).unwrap() + 9;
    let edges_at = text.find(r#""edges""#).unwrap();
    for len in 0..bytes.len() {
        let err = parse(&bytes[..len]).expect_err("a truncated snapshot must not parse");
        if (nodes_at..edges_at - 3).contains(&len) {
            match err {
                ParseError::Truncated { offset, .. } => assert_eq!(offset, len as u64),
                other => panic!("prefix {len}: {other}"),
            }
        }
    }
    assert!(parse(bytes).is_ok());
}

/// Random corruption gives `Ok` or `Err`, never a panic. A fuzz run:
/// `MEMCHECK_FUZZ_ITERS=1000000 cargo test --release --lib mutations`.
#[test]
fn mutations_never_panic() {
    let original = tiny().into_bytes();
    let mut next = crate::fuzz::rng();
    let alphabet = b"{}[],:\"\\0123456789-.eEu \n";
    for _ in 0..crate::fuzz::iterations(3000) {
        let mut bytes = original.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() % bytes.len() as u64) as usize;
            match next() % 3 {
                0 => bytes[at] = alphabet[(next() % alphabet.len() as u64) as usize],
                1 => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, (next() % 256) as u8),
            }
        }
        let _ = parse(&bytes[..]);
    }
}

/// Input that arrives a byte at a time parses the same as all at once.
#[test]
fn reads_across_buffer_boundaries() {
    struct Trickle<'a>(&'a [u8]);
    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(1).min(out.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let text = tiny();
    let a = parse(text.as_bytes()).unwrap();
    let b = parse(Trickle(text.as_bytes())).unwrap();
    assert_eq!(a.node_id, b.node_id);
    assert_eq!(a.edge_to, b.edge_to);
    assert_eq!(a.name(2), b.name(2));
}

/// What a parse gave, in a form two parses can be compared by.
fn outcome(result: std::result::Result<Snapshot, ParseError>) -> String {
    match result {
        Ok(s) => format!(
            "{:?}",
            (
                (&s.node_type, &s.node_name, &s.node_id, &s.node_size),
                (&s.first_edge, &s.edge_type, &s.edge_name, &s.edge_to),
                (0..s.strings.len() as u32)
                    .map(|i| s.strings.get(i))
                    .collect::<Vec<_>>(),
            )
        ),
        Err(e) => format!("error: {e}"),
    }
}

/// A file, its edges read on a second thread, parses as the same bytes
/// streamed: valid or not, small or larger than the reader's buffer. So
/// does the same snapshot as a range of a heap file, between a snapshot
/// before it and the start of one after it (the offsets of its errors
/// counting from its own start).
#[test]
fn a_file_parses_as_the_same_bytes_streamed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.heapsnapshot");
    let heap = dir.path().join("ch0.heap");
    let before = tiny();
    let same = |bytes: &[u8]| {
        std::fs::write(&path, bytes).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let text = String::from_utf8_lossy(bytes);
        let streamed = outcome(parse(bytes));
        assert_eq!(outcome(parse_file(file)), streamed, "{text:.300}");
        std::fs::write(
            &heap,
            [before.as_bytes(), bytes, b"{\"snapshot\":{"].concat(),
        )
        .unwrap();
        let file = std::fs::File::open(&heap).unwrap();
        let (start, len) = (before.len() as u64, bytes.len() as u64);
        for ahead in [true, false] {
            assert_eq!(
                outcome(parse_range(&file, start, len, ahead)),
                streamed,
                "{text:.300}"
            );
        }
    };
    // A chain of 100 000 nodes: `nodes` and `edges` each span many buffers.
    let n = 100_000;
    let nodes: Vec<String> = (0..n)
        .map(|i| format!("3,1,{},8,{}", 2 * i + 1, u64::from(i + 1 < n)))
        .collect();
    let edges: Vec<String> = (1..n).map(|i| format!("1,{},{}", i % 7, 5 * i)).collect();
    let big = format!(
        r#"{{"snapshot":{},"nodes":[{}],"edges":[{}],"locations":[1,2],"strings":["","Widget"]}}"#,
        meta(r#"["type","name","id","self_size","edge_count"]"#),
        nodes.join(",\n"),
        edges.join(",")
    );
    same(big.as_bytes());
    same(tiny().as_bytes());
    for (from, to) in [
        ("1,0,10]", "1,0,11]"),
        ("1,0,10]", "1,0,15]"),
        ("1,0,10]", "1,0,10,1]"),
        ("1,0,10]", "1,0,x]"),
        ("[2,3,5, 6,4,5, 1,0,10]", "[2,3,5, 6,4,5]"),
        ("[2,3,5, 6,4,5, 1,0,10]", "[]"),
        (r#""edges""#, r#""edgez""#),
        ("9,0,1,0,2,", "9,0,1,0,2]"),
        ("2,5,7,16,0]", "2,5,7,16,0],\"x\":[]"),
        // `strings` twice, or before `edges`: the last one is not the
        // parser's, or is met before the search for it.
        ("\"strings\":", "\"strings\":[\"a\"],\"strings\":"),
        ("\"strings\":", "\"strings\" :[\"\",\"b\"], \"strings\"\n:"),
        ("\"edges\":", "\"strings\":[\"\",\"c\"],\"edges\":"),
        ("\"secret\"]", "\"secret\",\"strings\"]"),
    ] {
        same(tiny().replacen(from, to, 1).as_bytes());
    }
    let mut next = crate::fuzz::rng();
    let original = tiny().into_bytes();
    for _ in 0..crate::fuzz::iterations(300) {
        let mut bytes = original.clone();
        let at = (next() % bytes.len() as u64) as usize;
        bytes[at] = b"[],:\"0123456789 "[(next() % 16) as usize];
        same(&bytes);
    }
}

/// A named pipe is read by the parser alone: a second reader would take
/// bytes from it.
#[cfg(unix)]
#[test]
fn a_pipe_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("snapshot.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let text = tiny();
    let writer = {
        let (fifo, text) = (fifo.clone(), text.clone());
        std::thread::spawn(move || std::fs::write(fifo, text).unwrap())
    };
    let file = std::fs::File::open(&fifo).unwrap();
    let parsed = outcome(parse_file(file));
    writer.join().unwrap();
    assert_eq!(parsed, outcome(parse(text.as_bytes())));
}

/// Keeping strings moves each kept one back over those dropped before it;
/// a string past the end of `needed` is dropped.
#[test]
fn kept_strings_read_as_before_and_the_others_as_empty() {
    let mut strings = super::Strings::default();
    for s in ["", "é", "dropped", "b", "ünïcode"] {
        strings.push(s);
    }
    strings.keep(&[false, true, false, true]);
    let got: Vec<&str> = (0..6).map(|i| strings.get(i)).collect();
    assert_eq!(got, ["", "é", "", "b", "", ""]);
}
