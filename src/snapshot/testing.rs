//! Building tiny snapshots in tests: nodes and edges in, a parsed
//! [`Snapshot`] out.

use super::{Snapshot, parse};

/// A node for [`snapshot`]: type, name, id, self size, edges as
/// `(edge type, name, target node ordinal)`.
pub type N<'a> = (&'a str, &'a str, u64, u64, &'a [(&'a str, &'a str, usize)]);

const NODE_TYPES: [&str; 15] = [
    "hidden",
    "array",
    "string",
    "object",
    "code",
    "closure",
    "regexp",
    "number",
    "native",
    "synthetic",
    "concatenated string",
    "sliced string",
    "symbol",
    "bigint",
    "object shape",
];
const EDGE_TYPES: [&str; 7] = [
    "context", "element", "property", "internal", "hidden", "shortcut", "weak",
];

/// Build and parse a snapshot; node 0 should be the synthetic root.
pub fn snapshot(nodes: &[N]) -> Snapshot {
    let mut strings: Vec<String> = vec![String::new()];
    let mut intern = |s: &str| {
        strings.iter().position(|x| x == s).unwrap_or_else(|| {
            strings.push(s.to_owned());
            strings.len() - 1
        })
    };
    let (mut node_values, mut edge_values) = (Vec::new(), Vec::new());
    for (ty, name, id, size, edges) in nodes {
        let t = NODE_TYPES.iter().position(|x| x == ty).unwrap();
        node_values.extend([
            t,
            intern(name),
            *id as usize,
            *size as usize,
            edges.len(),
            0,
            0,
        ]);
        for (ety, ename, to) in *edges {
            let e = EDGE_TYPES.iter().position(|x| x == ety).unwrap();
            let n = if matches!(*ety, "element" | "hidden") {
                ename.parse().unwrap()
            } else {
                intern(ename)
            };
            edge_values.extend([e, n, to * 7]);
        }
    }
    // In V8's order: the header first, strings last.
    let meta = serde_json::json!({ "meta": {
        "node_fields": ["type","name","id","self_size","edge_count","trace_node_id","detachedness"],
        "node_types": [NODE_TYPES, "string","number","number","number","number","number"],
        "edge_fields": ["type","name_or_index","to_node"],
        "edge_types": [EDGE_TYPES, "string_or_number","node"],
    }});
    let text = format!(
        r#"{{"snapshot":{meta},"nodes":{},"edges":{},"strings":{}}}"#,
        serde_json::json!(node_values),
        serde_json::json!(edge_values),
        serde_json::json!(strings)
    );
    parse(text.as_bytes()).unwrap()
}
