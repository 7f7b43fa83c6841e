//! Which nodes of a snapshot count, under which class name, and how big.
//!
//! Follows DevTools' Comparison view: class names from `calculateObjectNames`,
//! owned `hidden`/`array` nodes folded into their owner
//! (`calculateShallowSizes`), plain objects named after their property set
//! when several share it. On top of that, the noise that is not the user's is
//! dropped: V8 internals (`system / …`), code and metadata, embedder and
//! synthetic nodes, heap numbers, and objects the program does not keep:
//! those held only by code (the boilerplates of object literals), the
//! string table, or the harness's own frame. A step's two checkpoints also
//! leave out what only the running checkpoint holds ([`held_across`]).

use std::borrow::Cow;
use std::collections::HashMap;

use crate::snapshot::{NodeIndex, Snapshot};

/// Longest property-set name, as in DevTools.
const MAX_INTERFACE_LEN: usize = 120;
/// At most this many property-set names are inferred.
const MAX_INTERFACES: usize = 1000;
const NONE: u32 = u32::MAX;
const MANY: u32 = u32::MAX - 1;

/// Class names shared by the snapshots of one comparison.
#[derive(Default)]
pub struct Classes {
    names: Vec<String>,
    index: HashMap<String, u32>,
}

impl Classes {
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(name.to_owned());
        self.index.insert(name.to_owned(), i);
        i
    }

    pub fn name(&self, i: u32) -> &str {
        &self.names[i as usize]
    }
}

/// One counted object: its stable id, class and (shallow, folded) size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counted {
    pub id: u64,
    pub class: u32,
    pub size: u64,
    /// Where the object is in its snapshot, to find its retainers.
    pub node: NodeIndex,
}

/// Property-set names (`{a, b}`) that at least two plain objects share.
pub type Interfaces = std::collections::HashSet<String>;

/// The property-set names of `snap`, for applying to both sides of a diff.
pub fn infer_interfaces(snap: &Snapshot) -> Interfaces {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for n in 0..snap.node_count() as NodeIndex {
        if let Some(shape) = plain_object_shape(snap, n) {
            *counts.entry(shape).or_default() += 1;
        }
    }
    let mut shared: Vec<(String, usize)> = counts.into_iter().filter(|(_, c)| *c >= 2).collect();
    shared.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    shared.truncate(MAX_INTERFACES);
    shared.into_iter().map(|(s, _)| s).collect()
}

/// `{a, b, c}` for a node that is a plain `Object` with named properties.
fn plain_object_shape(snap: &Snapshot, n: NodeIndex) -> Option<String> {
    if snap.node_type_name(n) != "object" || snap.name(n) != "Object" {
        return None;
    }
    let mut shape = String::from("{");
    let mut any = false;
    for e in snap.edges(n) {
        if snap.edge_type_name(e) != "property" {
            continue;
        }
        let Some(name) = snap.edge_name_str(e) else {
            continue;
        };
        if name == "__proto__" {
            continue;
        }
        if any {
            shape.push_str(", ");
        }
        any = true;
        shape.push_str(name);
        if shape.len() > MAX_INTERFACE_LEN {
            shape.truncate(MAX_INTERFACE_LEN);
            shape.push('…');
            break;
        }
    }
    shape.push('}');
    any.then_some(shape)
}

/// DevTools' class name of a node.
fn class_name<'s>(snap: &'s Snapshot, n: NodeIndex, interfaces: &Interfaces) -> Cow<'s, str> {
    match snap.node_type_name(n) {
        "hidden" => "(system)".into(),
        "object" | "native" => {
            let name = snap.name(n);
            if name == "Object"
                && let Some(shape) = plain_object_shape(snap, n).filter(|s| interfaces.contains(s))
            {
                return shape.into();
            }
            // Chromium suffixes some names with the page's origin
            // (`HTMLDivElement (prototype) / http://…`).
            let name = name
                .split_once(" / http://")
                .or_else(|| name.split_once(" / https://"))
                .map_or(name, |(class, _)| class);
            // `<div id="x">` groups as `<div>`.
            match (name.starts_with('<'), name.find(' ')) {
                (true, Some(space)) => format!("{}>", &name[..space]).into(),
                _ => name.into(),
            }
        }
        "code" => "(compiled code)".into(),
        "closure" => "Function".into(),
        "regexp" => "RegExp".into(),
        "string" => "(string)".into(),
        "concatenated string" => "(concatenated string)".into(),
        "sliced string" => "(sliced string)".into(),
        other => format!("({other})").into(),
    }
}

/// Node types that never show: internals, code and metadata, embedder and
/// synthetic nodes, and heap numbers (Deno exposes each as a node).
fn is_noise_type(ty: &str) -> bool {
    matches!(
        ty,
        "hidden" | "array" | "code" | "object shape" | "synthetic" | "native" | "number"
    )
}

/// Whether a node is one of a page's DOM nodes (an element, text or
/// comment), which DevTools lists by tag though the snapshot calls it
/// `native`; Blink's other natives stay out, as V8's internals do.
fn is_dom_node(snap: &Snapshot, n: NodeIndex) -> bool {
    snap.node_type_name(n) == "native" && {
        let name = snap.name(n);
        name.starts_with('<') || matches!(name, "Text" | "Comment" | "CDATASection")
    }
}

/// The DOM nodes detached from their document: those the snapshot marks
/// so, and, as DevTools spreads it, the DOM nodes they reach that it does
/// not mark attached (the detached node's subtree).
fn detached_nodes(snap: &Snapshot) -> Vec<bool> {
    let count = snap.node_count();
    let mut detached = vec![false; count];
    let mut pending: Vec<NodeIndex> = (0..count as NodeIndex)
        .filter(|&n| snap.is_detached(n) && is_dom_node(snap, n))
        .collect();
    for &n in &pending {
        detached[n as usize] = true;
    }
    while let Some(n) = pending.pop() {
        for e in snap.edges(n) {
            let to = snap.edge_to(e);
            if detached[to as usize]
                || !is_dom_node(snap, to)
                || snap.node_detached.get(to as usize) == Some(&1)
            {
                continue;
            }
            detached[to as usize] = true;
            pending.push(to);
        }
    }
    detached
}

/// Nodes whose size DevTools folds into their single owner; we also fold an
/// ArrayBuffer's backing store into the ArrayBuffer, so buffers show their
/// real weight.
fn is_foldable(snap: &Snapshot, n: NodeIndex) -> bool {
    match snap.node_type_name(n) {
        "hidden" | "array" => true,
        "native" => snap.name(n).starts_with("system / JSArrayBufferData"),
        _ => false,
    }
}

/// Whether a node's references do not make an object the program's: V8
/// metadata (code, shapes, allocation sites, feedback, the last RegExp
/// match), the string table,
/// or the machine stack and handles, which at a checkpoint hold only the
/// harness's frame directly.
fn is_metadata(snap: &Snapshot, n: NodeIndex) -> bool {
    match snap.node_type_name(n) {
        "code" | "object shape" => true,
        "synthetic" => matches!(
            snap.name(n),
            "(Stack roots)"
                | "(Handle scope)"
                | "(Internalized strings)"
                | "C++ native stack roots"
        ),
        _ => {
            let name = snap.name(n);
            name.starts_with("system / AllocationSite")
                || name.starts_with("system / FeedbackVector")
                || name.starts_with("system / RegExpMatchInfo")
        }
    }
}

/// Whether edge `e` of `from` is a handle the inspector holds, not the
/// program: in a page, a checkpoint pauses in the debugger, which keeps
/// the paused frames' scopes as objects (`(Global handles)` →
/// `N / DevTools console`) until it resumes.
fn is_inspector_handle(snap: &Snapshot, from: NodeIndex, e: usize) -> bool {
    snap.node_type_name(from) == "synthetic"
        && snap.name(from) == "(Global handles)"
        && snap
            .edge_name_str(e)
            .is_some_and(|n| n.ends_with("/ DevTools console"))
}

/// Which nodes the program keeps: those with a retainer that is program
/// state. A retainer is not when it is metadata (see [`is_metadata`]), the
/// microtask running when the snapshot was taken (the harness's own
/// continuation), or itself an object held only by such retainers (a typed
/// array on the harness's stack holds its buffer). One level of that, not
/// more: a test's suspended async frame hangs off the harness's frame too,
/// through many objects, and it is the test's.
fn kept_by_program(snap: &Snapshot) -> Vec<bool> {
    let count = snap.node_count();
    let current_microtask = current_microtasks(snap);
    let inert = |n: NodeIndex| is_metadata(snap, n) || current_microtask.contains(&n);
    let held_by = |not_program: &dyn Fn(NodeIndex) -> bool| {
        let mut retained = vec![false; count];
        let mut held = vec![false; count];
        for from in 0..count as NodeIndex {
            let program = !not_program(from);
            for e in snap.edges(from) {
                if snap.edge_type_name(e) == "weak" {
                    continue;
                }
                let to = snap.edge_to(e) as usize;
                retained[to] = true;
                held[to] |= program && !is_inspector_handle(snap, from, e);
            }
        }
        (0..count)
            .map(|i| held[i] || !retained[i])
            .collect::<Vec<bool>>()
    };
    let first = held_by(&inert);
    held_by(&|n| inert(n) || !first[n as usize])
}

/// The microtask running when the snapshot was taken (the harness's own
/// continuation), as V8 names it from a synthetic root.
fn current_microtasks(snap: &Snapshot) -> Vec<NodeIndex> {
    let mut out = Vec::new();
    for from in 0..snap.node_count() as NodeIndex {
        if snap.node_type_name(from) == "synthetic" {
            for e in snap.edges(from) {
                if snap.edge_name_str(e) == Some("current_microtask") {
                    out.push(snap.edge_to(e));
                }
            }
        }
    }
    out
}

/// Which nodes of `snap`, one of a step's two checkpoints, the program
/// holds: those reachable from the GC roots, or from an object the other
/// checkpoint counts (`lived`, by id), without passing through the running
/// microtask, the stack or V8's metadata.
///
/// A checkpoint is taken while the test awaits it, from the harness's
/// running continuation: the call's own frame, its promise, the test's
/// `await` on it and what the call's arguments hold are reachable through
/// that continuation only, and are not the program's. The test's own frame
/// is reachable that way too, but the other checkpoint counts it, so what
/// it holds stays the program's. A block needs no such rule: its call makes
/// everything of its own before its first snapshot and drops it after its
/// last. (A frame the test made since the other checkpoint and that awaits
/// this one, such as a helper's, is the call's too: what only it holds
/// counts from the next checkpoint on.)
pub fn held_across(snap: &Snapshot, lived: impl Fn(u64) -> bool) -> Vec<bool> {
    let count = snap.node_count();
    let mut inert = vec![false; count];
    for n in 0..count as NodeIndex {
        inert[n as usize] = is_metadata(snap, n);
    }
    for n in current_microtasks(snap) {
        inert[n as usize] = true;
    }
    let mut held = vec![false; count];
    let mut pending: Vec<NodeIndex> = (0..count as NodeIndex)
        .filter(|&n| !inert[n as usize] && (n == 0 || lived(snap.id(n))))
        .collect();
    for &n in &pending {
        held[n as usize] = true;
    }
    while let Some(n) = pending.pop() {
        for e in snap.edges(n) {
            let to = snap.edge_to(e);
            if snap.edge_type_name(e) == "weak"
                || held[to as usize]
                || inert[to as usize]
                || is_inspector_handle(snap, n, e)
            {
                continue;
            }
            held[to as usize] = true;
            pending.push(to);
        }
    }
    held
}

/// The counted objects of `snap`, sorted by id.
pub fn census(snap: &Snapshot, classes: &mut Classes, interfaces: &Interfaces) -> Vec<Counted> {
    let count = snap.node_count();
    let mut size: Vec<u64> = (0..count as NodeIndex).map(|n| snap.self_size(n)).collect();

    // Owners of foldable nodes: DevTools folds a node into its one owner.
    let mut owner = vec![NONE; count];
    for from in 0..count as NodeIndex {
        let from_synthetic = matches!(snap.node_type_name(from), "synthetic") || from == 0;
        for e in snap.edges(from) {
            if snap.edge_type_name(e) == "weak" {
                continue;
            }
            let to = snap.edge_to(e) as usize;
            owner[to] = match owner[to] {
                _ if from_synthetic => MANY,
                NONE => from,
                o if o == from => o,
                _ => MANY,
            };
        }
    }
    let kept = kept_by_program(snap);
    for n in 0..count as NodeIndex {
        let o = owner[n as usize];
        if o != NONE && o != MANY && is_foldable(snap, n) {
            size[o as usize] += size[n as usize];
            size[n as usize] = 0;
        }
    }

    let detached = detached_nodes(snap);
    let mut out = Vec::new();
    for n in 0..count as NodeIndex {
        let i = n as usize;
        let dom = is_dom_node(snap, n);
        if size[i] == 0 || (is_noise_type(snap.node_type_name(n)) && !dom) {
            continue;
        }
        // Kept alive by code and metadata alone (a literal's boilerplate),
        // or only by the harness's frame.
        if !kept[i] {
            continue;
        }
        let mut name = class_name(snap, n, interfaces);
        if name.starts_with("system / ") {
            continue;
        }
        if detached[i] {
            name = format!("Detached {name}").into();
        }
        out.push(Counted {
            id: snap.id(n),
            class: classes.intern(&name),
            size: size[i],
            node: n,
        });
    }
    out.sort_unstable_by_key(|c| c.id);
    out
}
