//! V8 heap snapshots: the graph of one `.heapsnapshot` file, read by a
//! streaming, schema-driven parser.
//!
//! The parser never builds a JSON tree: it reads `snapshot.meta` to learn the
//! field layout, then stores only the node and edge fields the diff needs in
//! flat columns. Memory is proportional to the node and edge counts, not to
//! the file.

mod ahead;
mod parse;
mod reader;
mod tail;

pub use ahead::{RangeReader, parse_file, parse_range};
pub use parse::{ParseError, parse};

/// Give every large allocation its own mapping, returned to the system
/// when it is freed. glibc serves blocks under its mmap threshold from its
/// arenas and keeps their pages once freed, and the threshold grows to
/// 32 MiB as soon as a block that size is freed: without this, the columns
/// of a snapshot the runner has dropped stayed resident while the next one
/// was parsed (on Node's million-object heap, 230 MiB of the runner's peak
/// instead of 198 MiB). Call it once, before any snapshot is parsed.
pub fn map_large_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tuning parameter of the allocator.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Position of a node in one snapshot's `nodes` array (its ordinal). Only
/// meaningful within that snapshot; compare snapshots by [`NodeId`].
pub type NodeIndex = u32;

/// V8's object id: stable for a surviving object across snapshots of one
/// isolate, so it is what comparisons key on.
pub type NodeId = u64;

/// One parsed heap snapshot.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The node type enum (`hidden`, `array`, `string`, `object`, ...).
    pub node_types: Vec<String>,
    /// The edge type enum (`context`, `element`, `property`, ...).
    pub edge_types: Vec<String>,
    pub(crate) node_type: Vec<u8>,
    pub(crate) node_name: Vec<u32>,
    /// V8's ids are 32-bit; stored narrow to halve the column.
    pub(crate) node_id: Vec<u32>,
    /// Self sizes below 4 GiB; larger ones (huge backing stores) are in
    /// `big_sizes`, marked here by `u32::MAX`.
    pub(crate) node_size: Vec<u32>,
    pub(crate) big_sizes: std::collections::HashMap<NodeIndex, u64>,
    /// `first_edge[n]..first_edge[n + 1]` are node `n`'s outgoing edges.
    pub(crate) first_edge: Vec<u32>,
    pub(crate) edge_type: Vec<u8>,
    /// A string index, or the element index for `element` and `hidden` edges.
    pub(crate) edge_name: Vec<u32>,
    pub(crate) edge_to: Vec<NodeIndex>,
    pub(crate) strings: Strings,
    /// Each node's allocation trace id, when allocations were tracked;
    /// empty while all are 0, and a node past its end has 0.
    pub(crate) node_trace: Vec<u32>,
    /// Whether the nodes have a `trace_node_id` field.
    pub(crate) has_trace_ids: bool,
    /// Each node's `detachedness` (Chromium's DOM: 1 attached, 2 detached);
    /// empty while all are 0, and a node past its end has 0.
    pub(crate) node_detached: Vec<u8>,
    /// The node count the header announced, for reserving columns.
    pub(crate) node_count_hint: usize,
    pub(crate) trace_functions: Vec<TraceFunction>,
    pub(crate) trace_nodes: std::collections::HashMap<u32, TraceNode>,
}

/// A function that allocated, from `trace_function_infos`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceFunction {
    pub name: u32,
    pub script: u32,
    /// 1-based, 0 when unknown; points at the function, not the statement.
    pub line: u32,
    pub column: u32,
}

/// One node of `trace_tree`: a function and the trace node that called it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceNode {
    pub function: u32,
    pub parent: u32,
}

/// One frame of an allocation stack, as text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Frame {
    pub function: String,
    pub script: String,
    pub line: u32,
    pub column: u32,
}

/// The codes of the type names (`node_types` or `edge_types`) that `wanted`
/// accepts, to test a type column without comparing strings per entry.
pub(crate) fn type_codes(types: &[String], wanted: impl Fn(&str) -> bool) -> Vec<u8> {
    types
        .iter()
        .enumerate()
        .filter(|(_, t)| wanted(t))
        .map(|(i, _)| i as u8)
        .collect()
}

impl Snapshot {
    pub fn node_count(&self) -> usize {
        self.node_id.len()
    }

    /// Whether a DOM node was detached from its document (Chromium's
    /// `detachedness` field is 2); false for snapshots without the field.
    pub fn is_detached(&self, n: NodeIndex) -> bool {
        self.node_detached.get(n as usize) == Some(&2)
    }

    /// Whether any node is a JS object or closure: false for an empty or
    /// synthetic-only graph.
    pub fn has_js_objects(&self) -> bool {
        let wanted = type_codes(&self.node_types, |t| matches!(t, "object" | "closure"));
        self.node_type.iter().any(|t| wanted.contains(t))
    }

    /// Whether the snapshot was taken while tracking allocations.
    pub fn has_allocation_traces(&self) -> bool {
        !self.trace_nodes.is_empty() && self.has_trace_ids
    }

    /// The stack that allocated `n`, innermost frame first, when tracked.
    pub fn allocation_stack(&self, n: NodeIndex) -> Vec<Frame> {
        let mut frames = Vec::new();
        let mut id = self.node_trace.get(n as usize).copied().unwrap_or(0);
        while id != 0 && frames.len() < 64 {
            let Some(node) = self.trace_nodes.get(&id) else {
                break;
            };
            if let Some(f) = self.trace_functions.get(node.function as usize) {
                frames.push(Frame {
                    function: self.strings.get(f.name).to_owned(),
                    script: self.strings.get(f.script).to_owned(),
                    line: f.line,
                    column: f.column,
                });
            }
            id = node.parent;
        }
        frames
    }

    pub fn edge_count(&self) -> usize {
        self.edge_to.len()
    }

    pub fn node_type_name(&self, n: NodeIndex) -> &str {
        self.node_types
            .get(self.node_type[n as usize] as usize)
            .map_or("unknown", String::as_str)
    }

    /// The node's name; empty for string nodes, whose contents the parser
    /// does not keep.
    pub fn name(&self, n: NodeIndex) -> &str {
        self.strings.get(self.node_name[n as usize])
    }

    pub fn id(&self, n: NodeIndex) -> NodeId {
        self.node_id[n as usize] as NodeId
    }

    pub fn self_size(&self, n: NodeIndex) -> u64 {
        match self.node_size[n as usize] {
            u32::MAX => self.big_sizes.get(&n).copied().unwrap_or(u32::MAX as u64),
            small => small as u64,
        }
    }

    /// The edges leaving `n`, as indices into the edge columns.
    pub fn edges(&self, n: NodeIndex) -> std::ops::Range<usize> {
        self.first_edge[n as usize] as usize..self.first_edge[n as usize + 1] as usize
    }

    pub fn edge_to(&self, e: usize) -> NodeIndex {
        self.edge_to[e]
    }

    pub fn edge_type_name(&self, e: usize) -> &str {
        self.edge_types
            .get(self.edge_type[e] as usize)
            .map_or("unknown", String::as_str)
    }

    /// The edge's name as DevTools prints it in a retainer path.
    pub fn edge_label(&self, e: usize) -> String {
        let name = self.edge_name[e];
        match self.edge_type_name(e) {
            "element" => format!("[{name}]"),
            "hidden" => format!("({name})"),
            "context" => format!("(context) {}", self.strings.get(name)),
            "internal" | "shortcut" | "weak" => format!("({})", self.strings.get(name)),
            _ => format!(".{}", self.strings.get(name)),
        }
    }

    /// The name of an edge that carries a string name (not element/hidden).
    pub fn edge_name_str(&self, e: usize) -> Option<&str> {
        match self.edge_type_name(e) {
            "element" | "hidden" => None,
            _ => Some(self.strings.get(self.edge_name[e])),
        }
    }
}

/// The `strings` table, stored as one buffer and offsets.
#[derive(Debug, Default)]
pub struct Strings {
    text: String,
    ends: Vec<usize>,
}

impl Strings {
    pub fn push(&mut self, s: &str) {
        self.text.push_str(s);
        self.ends.push(self.text.len());
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Keep the strings `needed` says, and make the others `""`: in
    /// place, moving each kept string back over those dropped before it.
    pub(crate) fn keep(&mut self, needed: &[bool]) {
        let mut text = std::mem::take(&mut self.text).into_bytes();
        let (mut start, mut kept) = (0, 0);
        for (i, end) in self.ends.iter_mut().enumerate() {
            let next = *end;
            if needed.get(i).copied().unwrap_or(false) {
                text.copy_within(start..next, kept);
                kept += next - start;
            }
            *end = kept;
            start = next;
        }
        text.truncate(kept);
        text.shrink_to_fit();
        // Whole strings were moved, so the text is still UTF-8.
        self.text = String::from_utf8(text).expect("whole strings of UTF-8");
    }

    /// The string at `index`, or `""` for an index out of range.
    pub fn get(&self, index: u32) -> &str {
        let i = index as usize;
        if i >= self.ends.len() {
            return "";
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }
}

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
