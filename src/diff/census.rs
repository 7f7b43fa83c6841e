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

use super::kinds::Kinds;
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

/// One counted object: its stable id, class and (shallow, folded) size,
/// in 16 bytes: a census of millions of objects stays small.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counted {
    /// V8's ids are 32-bit.
    pub id: u32,
    pub class: u32,
    /// Where the object is in its snapshot, to find its retainers.
    pub node: NodeIndex,
    /// Sizes from 4 GiB up are [`BIG`] here, and kept in their census's
    /// `big` map: read them with [`Census::size`].
    size: u32,
}

/// The mark of a size kept in a census's `big` map.
const BIG: u32 = u32::MAX;

/// Property-set names (`{a, b}`) that at least two plain objects share.
pub type Interfaces = std::collections::HashSet<String>;

/// The census of one snapshot, before class names are final: a plain
/// object's name depends on the property sets of the "after" snapshot of
/// its comparison, so it keeps its own set here, to be resolved by
/// [`Table::resolve`]. All a Comparison needs of a snapshot, and small: a
/// block's "before" snapshot is dropped once its table is made.
#[derive(Debug, Default, Clone)]
pub struct Table {
    /// Sorted by id; `class` indexes `keys` until resolved.
    counted: Vec<Counted>,
    big: HashMap<u32, u64>,
    keys: Vec<Key>,
    /// The property sets of the snapshot's plain objects, and how many
    /// objects have each (all of them, counted or not).
    shapes: Vec<(String, usize)>,
}

/// What a counted object's class name will be.
#[derive(Debug, Clone)]
enum Key {
    Name(String),
    /// A plain object with these properties (`shapes[i]`): named after
    /// them if they are one of the comparison's interfaces, else `Object`.
    Shape(u32),
}

/// The counted objects of one snapshot, sorted by id, with their final
/// class names (interned in a [`Classes`] shared by both sides).
#[derive(Debug, Default, Clone)]
pub struct Census {
    pub counted: Vec<Counted>,
    big: HashMap<u32, u64>,
}

impl Census {
    pub fn size(&self, c: &Counted) -> u64 {
        match c.size {
            BIG => self.big.get(&c.id).copied().unwrap_or(BIG as u64),
            small => small as u64,
        }
    }
}

impl Table {
    /// The table of `snap`.
    pub fn of(snap: &Snapshot) -> Table {
        let kinds = Kinds::new(snap);
        let (shapes, node_shapes) = shapes(&kinds);
        let (marks, size) = counted(&kinds);
        let mut keys = Keys::new(&kinds);
        let detached = detached_nodes(&kinds);
        let mut plain = node_shapes.iter().peekable();
        let count = (0..snap.node_count() as NodeIndex)
            .filter(|&n| is_counted(&kinds, n, marks[n as usize], size.get(n)))
            .count();
        let mut out = Vec::with_capacity(count);
        let mut big = HashMap::new();
        for n in 0..snap.node_count() as NodeIndex {
            let i = n as usize;
            if !is_counted(&kinds, n, marks[i], size.get(n)) {
                continue;
            }
            while plain.next_if(|(p, _)| *p < n).is_some() {}
            let key = if detached.get(i) == Some(&true) {
                keys.detached(n)
            } else if kinds.is_plain_object(n) {
                match plain.peek() {
                    Some(&&(p, shape)) if p == n => Some(keys.shape(shape)),
                    _ => Some(keys.name("Object")),
                }
            } else {
                keys.of(n)
            };
            if let Some(class) = key {
                let id = snap.node_id[i];
                if size.small[i] == BIG {
                    big.insert(id, size.get(n));
                }
                out.push(Counted {
                    id,
                    class,
                    node: n,
                    size: size.small[i],
                });
            }
        }
        drop((marks, size, detached, node_shapes));
        out.sort_unstable_by_key(|c| c.id);
        Table {
            counted: out,
            big,
            keys: keys.keys,
            shapes,
        }
    }

    /// The property-set names of this snapshot, for applying to both sides
    /// of a comparison: those at least two plain objects share.
    pub fn interfaces(&self) -> Interfaces {
        let mut shared: Vec<&(String, usize)> =
            self.shapes.iter().filter(|(_, c)| *c >= 2).collect();
        shared.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        shared.truncate(MAX_INTERFACES);
        shared.into_iter().map(|(s, _)| s.clone()).collect()
    }

    /// The census: class names that apply `interfaces`, interned in
    /// `classes`. The table becomes the census, in place.
    pub fn resolve(self, interfaces: &Interfaces, classes: &mut Classes) -> Census {
        let class: Vec<u32> = self
            .keys
            .iter()
            .map(|k| match k {
                Key::Name(name) => classes.intern(name),
                Key::Shape(i) => {
                    let shape = &self.shapes[*i as usize].0;
                    classes.intern(if interfaces.contains(shape) {
                        shape
                    } else {
                        "Object"
                    })
                }
            })
            .collect();
        let mut counted = self.counted;
        for c in &mut counted {
            c.class = class[c.class as usize];
        }
        Census {
            counted,
            big: self.big,
        }
    }

    /// The ids of the counted objects, in order.
    pub fn ids(&self) -> impl Iterator<Item = u32> + Clone + '_ {
        self.counted.iter().map(|c| c.id)
    }

    pub fn len(&self) -> usize {
        self.counted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counted.is_empty()
    }
}

/// The property-set names of `snap`, for applying to both sides of a diff.
pub fn infer_interfaces(snap: &Snapshot) -> Interfaces {
    Table::of(snap).interfaces()
}

/// The counted objects of `snap` with `interfaces` applied, sorted by id.
pub fn census(snap: &Snapshot, classes: &mut Classes, interfaces: &Interfaces) -> Census {
    Table::of(snap).resolve(interfaces, classes)
}

/// Class keys of one table: each name once, and a memo of the class of
/// each node name (for `object` and `native` nodes) or node type (others).
struct Keys<'k> {
    kinds: &'k Kinds<'k>,
    keys: Vec<Key>,
    index: HashMap<String, u32>,
    shape_keys: HashMap<u32, u32>,
    by_name: Vec<u32>,
    by_type: [u32; 256],
}

/// Not yet looked up, in the memos.
const UNSEEN: u32 = u32::MAX;
/// Not counted (`system / …`), in the memos.
const SKIPPED: u32 = u32::MAX - 1;

impl<'k> Keys<'k> {
    fn new(kinds: &'k Kinds<'k>) -> Keys<'k> {
        Keys {
            kinds,
            keys: Vec::new(),
            index: HashMap::new(),
            shape_keys: HashMap::new(),
            by_name: vec![UNSEEN; kinds.snap.strings.len()],
            by_type: [UNSEEN; 256],
        }
    }

    fn name(&mut self, name: &str) -> u32 {
        if let Some(&k) = self.index.get(name) {
            return k;
        }
        let k = self.keys.len() as u32;
        self.keys.push(Key::Name(name.to_owned()));
        self.index.insert(name.to_owned(), k);
        k
    }

    fn shape(&mut self, shape: u32) -> u32 {
        *self.shape_keys.entry(shape).or_insert_with(|| {
            self.keys.push(Key::Shape(shape));
            self.keys.len() as u32 - 1
        })
    }

    /// The key of a node that is neither detached nor a plain object, or
    /// `None` for V8's own (`system / …`).
    fn of(&mut self, n: NodeIndex) -> Option<u32> {
        let snap = self.kinds.snap;
        let named = self.kinds.is_named(n);
        let (name, ty) = (
            snap.node_name[n as usize] as usize,
            snap.node_type[n as usize] as usize,
        );
        let mut key = if named {
            self.by_name[name]
        } else {
            self.by_type[ty]
        };
        if key == UNSEEN {
            let class = class_name(self.kinds, n);
            key = if class.starts_with("system / ") {
                SKIPPED
            } else {
                self.name(&class)
            };
            if named {
                self.by_name[name] = key;
            } else {
                self.by_type[ty] = key;
            }
        }
        (key != SKIPPED).then_some(key)
    }

    /// The key of a DOM node detached from its document.
    fn detached(&mut self, n: NodeIndex) -> Option<u32> {
        let name = class_name(self.kinds, n);
        if name.starts_with("system / ") {
            return None;
        }
        Some(self.name(&format!("Detached {name}")))
    }
}

/// Every plain object's property set, interned with how many objects have
/// it, and the plain objects that have one, in node order.
#[allow(clippy::type_complexity)]
fn shapes(kinds: &Kinds) -> (Vec<(String, usize)>, Vec<(NodeIndex, u32)>) {
    let mut index: HashMap<String, u32> = HashMap::new();
    let mut shapes: Vec<(String, usize)> = Vec::new();
    let mut nodes = Vec::new();
    for n in 0..kinds.snap.node_count() as NodeIndex {
        if !kinds.is_plain_object(n) {
            continue;
        }
        let Some(shape) = plain_object_shape(kinds, n) else {
            continue;
        };
        let i = match index.get(&shape) {
            Some(&i) => i,
            None => {
                let i = shapes.len() as u32;
                index.insert(shape.clone(), i);
                shapes.push((shape, 0));
                i
            }
        };
        shapes[i as usize].1 += 1;
        nodes.push((n, i));
    }
    (shapes, nodes)
}

/// `{a, b, c}` for a node that is a plain `Object` with named properties.
fn plain_object_shape(kinds: &Kinds, n: NodeIndex) -> Option<String> {
    let snap = kinds.snap;
    if !kinds.is_plain_object(n) {
        return None;
    }
    let mut shape = String::from("{");
    let mut any = false;
    for e in snap.edges(n) {
        if !kinds.is_property(e) {
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

/// DevTools' class name of a node, for any node but a plain object named
/// after its property set.
fn class_name<'s>(kinds: &Kinds<'s>, n: NodeIndex) -> Cow<'s, str> {
    let snap = kinds.snap;
    match snap.node_type_name(n) {
        "hidden" => "(system)".into(),
        "object" | "native" => {
            let name = snap.name(n);
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

/// The DOM nodes detached from their document: those the snapshot marks
/// so, and, as DevTools spreads it, the DOM nodes they reach that it does
/// not mark attached (the detached node's subtree). Empty when none is.
fn detached_nodes(kinds: &Kinds) -> Vec<bool> {
    let snap = kinds.snap;
    let count = snap.node_count();
    let mut pending: Vec<NodeIndex> = (0..count as NodeIndex)
        .filter(|&n| snap.is_detached(n) && kinds.is_dom_node(n))
        .collect();
    if pending.is_empty() {
        return Vec::new();
    }
    let mut detached = vec![false; count];
    for &n in &pending {
        detached[n as usize] = true;
    }
    while let Some(n) = pending.pop() {
        for e in snap.edges(n) {
            let to = snap.edge_to(e);
            if detached[to as usize]
                || !kinds.is_dom_node(to)
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

/// Whether edge `e` of `from` is a handle the inspector holds, not the
/// program: in a page, a checkpoint pauses in the debugger, which keeps
/// the paused frames' scopes as objects (`(Global handles)` →
/// `N / DevTools console`) until it resumes.
fn is_inspector_handle(kinds: &Kinds, from: NodeIndex, e: usize) -> bool {
    kinds.is_global_handles(from)
        && kinds
            .snap
            .edge_name_str(e)
            .is_some_and(|n| n.ends_with("/ DevTools console"))
}

/// Nodes whose references do not make an object the program's: V8
/// metadata (code, shapes, allocation sites, feedback, the last RegExp
/// match), the string table, the machine stack and handles, which at a
/// checkpoint hold only the harness's frame directly (see
/// [`Kinds::is_metadata`]), and the microtask running when the snapshot
/// was taken (the harness's own continuation).
fn inert_nodes(kinds: &Kinds) -> Vec<bool> {
    let snap = kinds.snap;
    let mut inert: Vec<bool> = (0..snap.node_count() as NodeIndex)
        .map(|n| kinds.is_metadata(n))
        .collect();
    for n in current_microtasks(kinds) {
        inert[n as usize] = true;
    }
    inert
}

/// The microtask running when the snapshot was taken (the harness's own
/// continuation), as V8 names it from a synthetic root.
fn current_microtasks(kinds: &Kinds) -> Vec<NodeIndex> {
    let snap = kinds.snap;
    let mut out = Vec::new();
    for from in 0..snap.node_count() as NodeIndex {
        if kinds.is_synthetic(from) {
            for e in snap.edges(from) {
                if snap.edge_name_str(e) == Some("current_microtask") {
                    out.push(snap.edge_to(e));
                }
            }
        }
    }
    out
}

// Per-node marks of the census's passes over the edges.
const RETAINED: u8 = 1;
const HELD_FIRST: u8 = 2;
const HELD: u8 = 4;

/// Whether node `n` counts (before its class name says whether it is V8's
/// own): it is of a type that shows, has a size, and the program keeps it.
fn is_counted(kinds: &Kinds, n: NodeIndex, marks: u8, size: u64) -> bool {
    // Kept alive by code and metadata alone (a literal's boilerplate), or
    // only by the harness's frame: not counted.
    let kept = marks & HELD != 0 || marks & RETAINED == 0;
    size != 0 && (!kinds.is_noise_type(n) || kinds.is_dom_node(n)) && kept
}

/// Each node's marks (see [`is_counted`]) and size: its own, and that of
/// the `hidden` and `array` nodes it alone owns, as DevTools'
/// `calculateShallowSizes` folds them, and of an ArrayBuffer's backing
/// store.
///
/// The program keeps a node with a retainer that is program state. A
/// retainer is not when it is inert (see [`inert_nodes`]) or itself an
/// object held only by such retainers (a typed array on the harness's
/// stack holds its buffer). One level of that, not more: a test's
/// suspended async frame hangs off the harness's frame too, through many
/// objects, and it is the test's.
fn counted(kinds: &Kinds) -> (Vec<u8>, Sizes) {
    let snap = kinds.snap;
    let count = snap.node_count();
    let inert = inert_nodes(kinds);
    let mut owner = vec![NONE; count];
    let mut marks = vec![0u8; count];
    // Owners of foldable nodes (DevTools folds a node into its one owner),
    // and a first look at which nodes the program holds.
    for from in 0..count as NodeIndex {
        let from_synthetic = kinds.is_synthetic(from) || from == 0;
        let program = !inert[from as usize];
        let handles = kinds.is_global_handles(from);
        for e in snap.edges(from) {
            if kinds.is_weak(e) {
                continue;
            }
            let to = snap.edge_to(e) as usize;
            owner[to] = match owner[to] {
                _ if from_synthetic => MANY,
                NONE => from,
                o if o == from => o,
                _ => MANY,
            };
            marks[to] |= RETAINED;
            if program && !(handles && is_inspector_handle(kinds, from, e)) {
                marks[to] |= HELD_FIRST;
            }
        }
    }
    // Held by a retainer that is program state and itself held so.
    let held_first = |m: u8| m & HELD_FIRST != 0 || m & RETAINED == 0;
    for from in 0..count as NodeIndex {
        if inert[from as usize] || !held_first(marks[from as usize]) {
            continue;
        }
        let handles = kinds.is_global_handles(from);
        for e in snap.edges(from) {
            if kinds.is_weak(e) || (handles && is_inspector_handle(kinds, from, e)) {
                continue;
            }
            marks[snap.edge_to(e) as usize] |= HELD;
        }
    }
    drop(inert);
    let mut size = Sizes {
        small: snap.node_size.clone(),
        big: snap.big_sizes.clone(),
    };
    for n in 0..count as NodeIndex {
        let o = owner[n as usize];
        if o != NONE && o != MANY && kinds.is_foldable(n) {
            size.set(o, size.get(o) + size.get(n));
            size.set(n, 0);
        }
    }
    (marks, size)
}

/// A size per node, in 4 bytes: from 4 GiB up, [`BIG`] and the size in a
/// map (as the snapshot keeps self sizes).
struct Sizes {
    small: Vec<u32>,
    big: HashMap<NodeIndex, u64>,
}

impl Sizes {
    fn get(&self, n: NodeIndex) -> u64 {
        match self.small[n as usize] {
            BIG => self.big.get(&n).copied().unwrap_or(BIG as u64),
            small => small as u64,
        }
    }

    fn set(&mut self, n: NodeIndex, size: u64) {
        if size >= BIG as u64 {
            self.big.insert(n, size);
            self.small[n as usize] = BIG;
        } else {
            if self.small[n as usize] == BIG {
                self.big.remove(&n);
            }
            self.small[n as usize] = size as u32;
        }
    }
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
    let kinds = Kinds::new(snap);
    let count = snap.node_count();
    let inert = inert_nodes(&kinds);
    let mut held = vec![false; count];
    let mut pending: Vec<NodeIndex> = (0..count as NodeIndex)
        .filter(|&n| !inert[n as usize] && (n == 0 || lived(snap.id(n))))
        .collect();
    for &n in &pending {
        held[n as usize] = true;
    }
    while let Some(n) = pending.pop() {
        let handles = kinds.is_global_handles(n);
        for e in snap.edges(n) {
            let to = snap.edge_to(e);
            if kinds.is_weak(e)
                || held[to as usize]
                || inert[to as usize]
                || (handles && is_inspector_handle(&kinds, n, e))
            {
                continue;
            }
            held[to as usize] = true;
            pending.push(to);
        }
    }
    held
}
