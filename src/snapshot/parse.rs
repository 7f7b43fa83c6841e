//! The streaming parser behind [`parse`](super::parse).

use std::io::Read;

use serde::Deserialize;

use super::ahead::{Ahead, Source, Stream};
use super::reader::Parser;
use super::tail::{Naming, Tail, read_tail};
use super::{Snapshot, Strings, TraceFunction, TraceNode, type_codes};

/// What is wrong with a snapshot's bytes. Offsets count bytes from the start.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("cannot read the snapshot: {0}")]
    Io(#[from] std::io::Error),
    #[error("the snapshot ends early, at byte {offset}, inside {context}: the file is truncated")]
    Truncated { offset: u64, context: &'static str },
    #[error("unexpected {found} at byte {offset}: expected {expected}")]
    Unexpected {
        offset: u64,
        found: String,
        expected: &'static str,
    },
    #[error("`{0}` is missing: this is not a V8 heap snapshot, or an incomplete one")]
    Missing(&'static str),
    #[error("invalid `snapshot.meta`: {0}")]
    Meta(String),
    #[error("{0}")]
    Inconsistent(String),
}

pub(super) type Result<T> = std::result::Result<T, ParseError>;

#[derive(Deserialize)]
struct Header {
    meta: Meta,
    #[serde(default)]
    node_count: Option<u64>,
    #[serde(default)]
    edge_count: Option<u64>,
}

#[derive(Deserialize)]
struct Meta {
    node_fields: Vec<String>,
    node_types: Vec<serde_json::Value>,
    edge_fields: Vec<String>,
    edge_types: Vec<serde_json::Value>,
    #[serde(default)]
    trace_function_info_fields: Vec<String>,
    #[serde(default)]
    trace_node_fields: Vec<String>,
}

/// Where the fields of allocation traces sit, when the snapshot has them.
#[derive(Clone, Default)]
struct TraceLayout {
    function_width: usize,
    f_name: Option<usize>,
    f_script: Option<usize>,
    f_line: Option<usize>,
    f_column: Option<usize>,
    node_fields: Vec<String>,
}

/// Where each field we keep sits in a node or edge record.
struct Layout {
    node_width: usize,
    n_type: usize,
    n_name: usize,
    n_id: usize,
    n_size: usize,
    n_edges: usize,
    edge_width: usize,
    e_type: usize,
    e_name: usize,
    e_to: usize,
    node_types: Vec<String>,
    edge_types: Vec<String>,
    /// `trace_node_id`, present in snapshots taken while tracking allocations.
    n_trace: Option<usize>,
    /// `detachedness` (Chromium): 1 attached, 2 detached from the document.
    n_detached: Option<usize>,
    trace: TraceLayout,
}

impl Layout {
    /// What the second reader of `edges` needs.
    fn edges(&self, hint: usize) -> EdgeLayout {
        EdgeLayout {
            node_width: self.node_width,
            edge_width: self.edge_width,
            e_type: self.e_type,
            e_name: self.e_name,
            e_to: self.e_to,
            hint,
        }
    }

    fn from_meta(meta: Meta) -> Result<Self> {
        let field = |fields: &[String], name: &'static str| {
            fields
                .iter()
                .position(|f| f == name)
                .ok_or_else(|| ParseError::Meta(format!("no `{name}` field in its field list")))
        };
        let enum_of = |types: &[serde_json::Value], what: &str| -> Result<Vec<String>> {
            let list = types.first().and_then(|v| v.as_array()).ok_or_else(|| {
                ParseError::Meta(format!("`{what}[0]` is not a list of type names"))
            })?;
            Ok(list
                .iter()
                .map(|v| v.as_str().unwrap_or("unknown").to_owned())
                .collect())
        };
        let node_types = enum_of(&meta.node_types, "node_types")?;
        let edge_types = enum_of(&meta.edge_types, "edge_types")?;
        if node_types.len() > 255 || edge_types.len() > 255 {
            return Err(ParseError::Meta("more than 255 node or edge types".into()));
        }
        Ok(Layout {
            node_width: meta.node_fields.len(),
            n_type: field(&meta.node_fields, "type")?,
            n_name: field(&meta.node_fields, "name")?,
            n_id: field(&meta.node_fields, "id")?,
            n_size: field(&meta.node_fields, "self_size")?,
            n_edges: field(&meta.node_fields, "edge_count")?,
            edge_width: meta.edge_fields.len(),
            e_type: field(&meta.edge_fields, "type")?,
            e_name: field(&meta.edge_fields, "name_or_index")?,
            e_to: field(&meta.edge_fields, "to_node")?,
            node_types,
            edge_types,
            n_trace: meta.node_fields.iter().position(|f| f == "trace_node_id"),
            n_detached: meta.node_fields.iter().position(|f| f == "detachedness"),
            trace: {
                let at = |name: &str| {
                    meta.trace_function_info_fields
                        .iter()
                        .position(|f| f == name)
                };
                TraceLayout {
                    function_width: meta.trace_function_info_fields.len(),
                    f_name: at("name"),
                    f_script: at("script_name"),
                    f_line: at("line"),
                    f_column: at("column"),
                    node_fields: meta.trace_node_fields.clone(),
                }
            },
        })
    }
}

/// Parse a heap snapshot from `reader`, reading it once, front to back.
pub fn parse(reader: impl Read) -> Result<Snapshot> {
    parse_source(Stream(reader))
}

/// Parse a heap snapshot from `source`; one that can be read at two places
/// at once has its `edges` read on a second thread (see [`super::ahead`]).
pub(super) fn parse_source<S: Source>(source: S) -> Result<Snapshot> {
    let mut p = Parser::new(source);
    let mut layout: Option<Layout> = None;
    let mut snap = Snapshot::default();
    let (mut seen_nodes, mut seen_edges, mut seen_strings) = (false, false, false);
    let mut edge_hint = 0;
    let mut ahead: Option<Ahead> = None;
    let mut tail: Option<Tail> = None;
    let mut naming: Option<Naming> = None;

    p.expect(b'{', "`{` at the start of a heap snapshot")?;
    if p.peek_non_ws("the top-level object")? == b'}' {
        return Err(ParseError::Missing("snapshot"));
    }
    loop {
        let key = p.string("a key of the top-level object")?;
        p.expect(b':', "`:` after a key")?;
        if matches!(key.as_str(), "snapshot" | "nodes" | "edges")
            && let Some(n) = naming.take()
        {
            // The graph's columns are back before anything may change them.
            n.join(&mut snap);
        }
        match key.as_str() {
            "snapshot" => {
                let raw = p.raw_object()?;
                let header: Header =
                    serde_json::from_slice(&raw).map_err(|e| ParseError::Meta(e.to_string()))?;
                let l = Layout::from_meta(header.meta)?;
                if let Some(n) = header.node_count {
                    reserve_nodes(&mut snap, n.min(1 << 26) as usize);
                }
                edge_hint = header.edge_count.unwrap_or(0).min(1 << 28) as usize;
                snap.node_types = l.node_types.clone();
                snap.edge_types = l.edge_types.clone();
                layout = Some(l);
            }
            "nodes" => {
                let l = layout
                    .as_ref()
                    .ok_or(ParseError::Missing("snapshot.meta (before `nodes`)"))?;
                let at = p.offset();
                ahead = p
                    .source()
                    .fork(at)
                    .map(|r| Ahead::start(r, at, l.edges(edge_hint)));
                read_nodes(&mut p, l, &mut snap)?;
                seen_nodes = true;
            }
            "edges" => {
                let l = layout
                    .as_ref()
                    .ok_or(ParseError::Missing("snapshot.meta (before `edges`)"))?;
                if !seen_nodes {
                    return Err(ParseError::Missing("nodes (before `edges`)"));
                }
                let forked = ahead.is_some();
                if forked {
                    // The parser would wait for the second reader: it reads
                    // `strings` meanwhile.
                    tail = read_tail(p.source(), p.offset());
                }
                let edges = match ahead.take().and_then(|a| take_ahead(&mut p, a, &snap)) {
                    Some(edges) => edges,
                    None => read_edges(&mut p, l, edge_hint, snap.node_id.len())?,
                };
                (snap.edge_type, snap.edge_name, snap.edge_to) =
                    (edges.edge_type, edges.edge_name, edges.edge_to);
                seen_edges = true;
                if forked {
                    // Which strings the graph names, worked out while the
                    // parser reads on to `strings`.
                    naming = Some(Naming::start(&mut snap));
                }
            }
            "trace_function_infos" => {
                let l = layout.as_ref().ok_or(ParseError::Missing(
                    "snapshot.meta (before `trace_function_infos`)",
                ))?;
                read_trace_functions(&mut p, &l.trace, &mut snap)?;
            }
            "trace_tree" => {
                let l = layout
                    .as_ref()
                    .ok_or(ParseError::Missing("snapshot.meta (before `trace_tree`)"))?;
                let raw = p.raw_value()?;
                let tree: serde_json::Value = serde_json::from_slice(&raw).map_err(|e| {
                    ParseError::Inconsistent(format!("`trace_tree` is not valid JSON: {e}"))
                })?;
                read_trace_tree(&tree, &l.trace.node_fields, &mut snap)?;
            }
            "strings" => {
                let needed = match naming.take() {
                    Some(n) => {
                        let mut needed = n.join(&mut snap);
                        trace_names(&snap, &mut needed);
                        needed
                    }
                    None => needed_strings(&snap),
                };
                // Taken only as the first `strings` (a later one adds to
                // it), where the parser meets it; else freed before the
                // parser reads the array itself.
                let taken = match tail.take() {
                    Some(t)
                        if snap.strings.is_empty()
                            && t.value_at == p.offset()
                            && p.skip_to(t.end, |s, at| s.jump(at)) =>
                    {
                        Some(t)
                    }
                    _ => None,
                };
                match taken {
                    Some(mut t) => {
                        t.strings.keep(&needed);
                        snap.strings = t.strings;
                    }
                    None => read_strings(&mut p, &mut snap.strings, Some(&needed))?,
                }
                seen_strings = true;
            }
            _ => p.skip_value()?,
        }
        match p.next_non_ws("`,` or `}` in the top-level object")? {
            b',' => continue,
            b'}' => break,
            other => return Err(p.unexpected(other, "`,` or `}` in the top-level object")),
        }
    }
    if let Some(n) = naming.take() {
        n.join(&mut snap);
    }
    if layout.is_none() {
        return Err(ParseError::Missing("snapshot.meta"));
    }
    if !seen_nodes {
        return Err(ParseError::Missing("nodes"));
    }
    if !seen_edges {
        return Err(ParseError::Missing("edges"));
    }
    if !seen_strings {
        return Err(ParseError::Missing("strings"));
    }
    check_counts(&snap)?;
    Ok(snap)
}

fn reserve_nodes(snap: &mut Snapshot, n: usize) {
    snap.node_type.reserve(n);
    snap.node_name.reserve(n);
    snap.node_id.reserve(n);
    snap.node_size.reserve(n);
    snap.first_edge.reserve(n + 1);
    snap.node_count_hint = n;
}

/// Read a flat integer array as records of `width` values, handing each to
/// `sink`; a trailing partial record is an error.
fn read_records<R: Read>(
    p: &mut Parser<R>,
    context: &'static str,
    width: usize,
    sink: impl FnMut(&[u64]),
) -> Result<()> {
    // The usual widths (V8's edges, and nodes with and without their
    // later fields) as constants: a record is then an array on the stack.
    match width {
        3 => read_into(p, context, [0u64; 3], sink),
        6 => read_into(p, context, [0u64; 6], sink),
        7 => read_into(p, context, [0u64; 7], sink),
        _ => read_into(p, context, vec![0u64; width], sink),
    }
}

/// [`read_records`] into `record`, whose length is the width.
fn read_into<R: Read>(
    p: &mut Parser<R>,
    context: &'static str,
    mut record: impl AsMut<[u64]>,
    mut sink: impl FnMut(&[u64]),
) -> Result<()> {
    let (mut filled, mut count) = (0, 0usize);
    p.numbers(context, |v| {
        let record = record.as_mut();
        record[filled % record.len()] = v;
        filled += 1;
        if filled == record.len() {
            filled = 0;
            count += 1;
            sink(record);
        }
    })?;
    partial(context, record.as_mut().len(), count, filled)
}

/// The error for a trailing partial record.
fn partial(context: &'static str, width: usize, count: usize, filled: usize) -> Result<()> {
    if filled != 0 {
        return Err(ParseError::Inconsistent(format!(
            "`{context}` holds {} values, not a multiple of its {width} fields",
            count * width + filled
        )));
    }
    Ok(())
}

/// Push `value` for node `index` to a column that stays empty while every
/// value is zero (allocation trace ids without tracking, `detachedness`
/// outside a page): a reader takes a missing entry for zero.
fn sparse_push<T: Copy + Default + PartialEq>(
    column: &mut Vec<T>,
    index: usize,
    value: T,
    hint: usize,
) {
    if column.is_empty() {
        if value == T::default() {
            return;
        }
        column.reserve(hint.max(index + 1));
        column.resize(index, T::default());
    }
    column.push(value);
}

fn read_nodes<R: Read>(p: &mut Parser<R>, l: &Layout, snap: &mut Snapshot) -> Result<()> {
    let hint = snap.node_count_hint;
    let mut edges: u64 = 0;
    let mut bad_id: Option<u64> = None;
    snap.first_edge.push(0);
    read_records(p, "nodes", l.node_width, |r| {
        snap.node_type.push(r[l.n_type].min(255) as u8);
        snap.node_name.push(r[l.n_name].min(u32::MAX as u64) as u32);
        if r[l.n_id] > u32::MAX as u64 && bad_id.is_none() {
            bad_id = Some(r[l.n_id]);
        }
        snap.node_id.push(r[l.n_id] as u32);
        let size = r[l.n_size];
        if size >= u32::MAX as u64 {
            snap.big_sizes.insert(snap.node_size.len() as u32, size);
            snap.node_size.push(u32::MAX);
        } else {
            snap.node_size.push(size as u32);
        }
        edges += r[l.n_edges];
        snap.first_edge.push(edges.min(u32::MAX as u64) as u32);
        let index = snap.node_id.len() - 1;
        if let Some(t) = l.n_trace {
            sparse_push(
                &mut snap.node_trace,
                index,
                r[t].min(u32::MAX as u64) as u32,
                hint,
            );
        }
        if let Some(d) = l.n_detached {
            sparse_push(&mut snap.node_detached, index, r[d].min(255) as u8, hint);
        }
    })?;
    snap.has_trace_ids = l.n_trace.is_some();
    if let Some(id) = bad_id {
        return Err(ParseError::Inconsistent(format!(
            "node id {id} does not fit V8's 32-bit ids"
        )));
    }
    if edges > u32::MAX as u64 {
        return Err(ParseError::Inconsistent("more than 2^32 edges".into()));
    }
    Ok(())
}

/// The edges the second reader read, when they are what this parser,
/// now at the `edges` value, would read: then it moves past them.
fn take_ahead<S: Source>(p: &mut Parser<S>, ahead: Ahead, snap: &Snapshot) -> Option<Edges> {
    let read = ahead.join()?;
    let targets_exist =
        read.edges.edge_to.is_empty() || (read.max_node as usize) < snap.node_id.len();
    let placed = read.value_at == p.offset() && targets_exist;
    (placed && p.skip_to(read.end, |s, at| s.jump(at))).then_some(read.edges)
}

fn read_edges<R: Read>(p: &mut Parser<R>, l: &Layout, hint: usize, nodes: usize) -> Result<Edges> {
    let read = edge_columns(p, &l.edges(hint), Some(nodes as u64))?;
    match read.bad {
        Some((i, to)) => Err(ParseError::Inconsistent(format!(
            "edge {i} points at nodes[{to}], which is not the start of a node"
        ))),
        None => Ok(read.edges),
    }
}

/// The `edges` array as columns, with what checking it takes: the first
/// edge whose target is not the start of a node (one of `nodes`, when
/// known), and the largest target.
pub(super) struct EdgeColumns {
    pub edges: Edges,
    pub bad: Option<(usize, u64)>,
    pub max_node: u32,
}

/// Read the `edges` array: by the parser, or ahead of it by a second
/// reader that does not know the node count yet.
pub(super) fn edge_columns<R: Read>(
    p: &mut Parser<R>,
    l: &EdgeLayout,
    nodes: Option<u64>,
) -> Result<EdgeColumns> {
    let width = l.node_width as u64;
    let mut read = EdgeColumns {
        edges: Edges::with_capacity(l.hint),
        bad: None,
        max_node: 0,
    };
    read_records(p, "edges", l.edge_width, |r| {
        let to = r[l.e_to];
        let (node, offset) = node_of(to, width);
        if (offset != 0 || nodes.is_some_and(|n| node >= n)) && read.bad.is_none() {
            read.bad = Some((read.edges.edge_to.len(), to));
        }
        let node = node.min(u32::MAX as u64) as u32;
        read.max_node = read.max_node.max(node);
        read.edges.edge_type.push(r[l.e_type].min(255) as u8);
        read.edges
            .edge_name
            .push(r[l.e_name].min(u32::MAX as u64) as u32);
        read.edges.edge_to.push(node);
    })?;
    Ok(read)
}

/// The node an edge's `to_node` offset points at, and how far into it. A
/// division per edge by a width known only at run time costs more than
/// the rest of reading the edge: the usual widths are constants here,
/// which the compiler turns into a multiplication.
#[inline]
fn node_of(to: u64, width: u64) -> (u64, u64) {
    match width {
        5 => (to / 5, to % 5),
        6 => (to / 6, to % 6),
        7 => (to / 7, to % 7),
        w => (to / w, to % w),
    }
}

/// Where an edge record's fields sit.
#[derive(Clone, Copy)]
pub(super) struct EdgeLayout {
    pub node_width: usize,
    pub edge_width: usize,
    pub e_type: usize,
    pub e_name: usize,
    pub e_to: usize,
    /// The edge count the header declares, to reserve the columns.
    pub hint: usize,
}

/// The `edges` columns, as the parser stores them.
pub(super) struct Edges {
    pub edge_type: Vec<u8>,
    pub edge_name: Vec<u32>,
    pub edge_to: Vec<u32>,
}

impl Edges {
    pub fn with_capacity(n: usize) -> Edges {
        Edges {
            edge_type: Vec::with_capacity(n),
            edge_name: Vec::with_capacity(n),
            edge_to: Vec::with_capacity(n),
        }
    }
}

fn read_trace_functions<R: Read>(
    p: &mut Parser<R>,
    l: &TraceLayout,
    snap: &mut Snapshot,
) -> Result<()> {
    if l.function_width == 0 {
        return p.skip_value();
    }
    let get = |r: &[u64], i: Option<usize>| i.map_or(0, |i| r[i].min(u32::MAX as u64) as u32);
    read_records(p, "trace_function_infos", l.function_width, |r| {
        snap.trace_functions.push(TraceFunction {
            name: get(r, l.f_name),
            script: get(r, l.f_script),
            line: get(r, l.f_line),
            column: get(r, l.f_column),
        });
    })
}

/// Walk the nested `trace_tree` (`[id, function, count, size, [children…], …]`)
/// into a parent map.
fn read_trace_tree(tree: &serde_json::Value, fields: &[String], snap: &mut Snapshot) -> Result<()> {
    let (Some(id_at), Some(fn_at), Some(children_at)) = (
        fields.iter().position(|f| f == "id"),
        fields.iter().position(|f| f == "function_info_index"),
        fields.iter().position(|f| f == "children"),
    ) else {
        return Ok(());
    };
    let width = fields.len();
    let bad = || ParseError::Inconsistent("`trace_tree` does not match `trace_node_fields`".into());
    let mut pending: Vec<(&serde_json::Value, u32)> = vec![(tree, 0)];
    while let Some((list, parent)) = pending.pop() {
        let items = list.as_array().ok_or_else(bad)?;
        if items.len() % width != 0 {
            return Err(bad());
        }
        for record in items.chunks(width) {
            let num = |v: &serde_json::Value| {
                v.as_u64()
                    .map(|n| n.min(u32::MAX as u64) as u32)
                    .ok_or_else(bad)
            };
            let id = num(&record[id_at])?;
            snap.trace_nodes.insert(
                id,
                TraceNode {
                    function: num(&record[fn_at])?,
                    parent,
                },
            );
            pending.push((&record[children_at], id));
        }
    }
    Ok(())
}

/// Check that the edge and string counts agree with the nodes.
fn check_counts(snap: &Snapshot) -> Result<()> {
    let declared = *snap.first_edge.last().unwrap_or(&0) as usize;
    if declared != snap.edge_to.len() {
        return Err(ParseError::Inconsistent(format!(
            "the nodes declare {declared} edges but `edges` holds {}",
            snap.edge_to.len()
        )));
    }
    let strings = snap.strings.len() as u64;
    if let Some(bad) = snap.node_name.iter().find(|&&s| s as u64 >= strings) {
        return Err(ParseError::Inconsistent(format!(
            "a node's name is string {bad}, but there are only {strings} strings"
        )));
    }
    Ok(())
}

/// Which strings the diff, paths and traces use: names of nodes that are
/// not strings themselves (a string node's name is its contents), names of
/// edges, and trace function names and scripts. The others are read past
/// and stored empty, so string contents cost no memory.
fn needed_strings(snap: &Snapshot) -> Vec<bool> {
    let mut needed = graph_names(&Graph::of(snap));
    trace_names(snap, &mut needed);
    needed
}

/// The columns that say which strings the graph names.
pub(super) struct Graph<'g> {
    pub node_types: &'g [String],
    pub edge_types: &'g [String],
    pub node_type: &'g [u8],
    pub node_name: &'g [u32],
    pub edge_type: &'g [u8],
    pub edge_name: &'g [u32],
}

impl<'g> Graph<'g> {
    fn of(snap: &'g Snapshot) -> Graph<'g> {
        Graph {
            node_types: &snap.node_types,
            edge_types: &snap.edge_types,
            node_type: &snap.node_type,
            node_name: &snap.node_name,
            edge_type: &snap.edge_type,
            edge_name: &snap.edge_name,
        }
    }
}

/// Mark string `i` in `needed`, growing it to fit.
fn mark(needed: &mut Vec<bool>, i: u32) {
    let i = i as usize;
    if i >= needed.len() {
        needed.resize(i + 1, false);
    }
    needed[i] = true;
}

/// The names of nodes that are not strings, and of edges.
pub(super) fn graph_names(g: &Graph) -> Vec<bool> {
    let mut needed = Vec::new();
    let text_types = type_table(g.node_types, |t| t.ends_with("string"));
    for (ty, name) in g.node_type.iter().zip(g.node_name) {
        if !text_types[*ty as usize] {
            mark(&mut needed, *name);
        }
    }
    let numbered = type_table(g.edge_types, |t| matches!(t, "element" | "hidden"));
    for (ty, name) in g.edge_type.iter().zip(g.edge_name) {
        if !numbered[*ty as usize] {
            mark(&mut needed, *name);
        }
    }
    needed
}

/// The names and scripts of the trace functions.
fn trace_names(snap: &Snapshot, needed: &mut Vec<bool>) {
    for f in &snap.trace_functions {
        mark(needed, f.name);
        mark(needed, f.script);
    }
}

/// Whether `wanted` accepts each type code (an entry per `u8`).
fn type_table(types: &[String], wanted: impl Fn(&str) -> bool) -> [bool; 256] {
    let mut table = [false; 256];
    for code in type_codes(types, wanted) {
        table[code as usize] = true;
    }
    table
}

/// Read the `strings` array: those `needed` says (all when None), and `""`
/// in place of the others.
pub(super) fn read_strings<R: Read>(
    p: &mut Parser<R>,
    strings: &mut Strings,
    needed: Option<&[bool]>,
) -> Result<()> {
    p.expect(b'[', "`[` to open `strings`")?;
    if p.peek_non_ws("strings")? == b']' {
        p.bump();
        return Ok(());
    }
    let mut buf = Vec::new();
    loop {
        buf.clear();
        p.string_into(&mut buf, "a string of `strings`")?;
        if needed.is_none_or(|n| n.get(strings.len()).copied().unwrap_or(false)) {
            strings.push(&String::from_utf8_lossy(&buf));
        } else {
            strings.push("");
        }
        match p.next_non_ws("strings")? {
            b',' => continue,
            b']' => return Ok(()),
            other => return Err(p.unexpected(other, "`,` or `]` in `strings`")),
        }
    }
}
