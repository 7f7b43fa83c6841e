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

use std::collections::HashMap;

use super::kinds::Kinds;
use super::names::{Key, Keys, detached_nodes, shapes};
use crate::snapshot::{NodeIndex, Snapshot};

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
    /// The table of `snap`. The property sets and the detached DOM are
    /// found beside the passes that say what counts, and the counted nodes
    /// are named in two halves: each on a thread of its own.
    pub fn of(snap: &Snapshot) -> Table {
        let kinds = Kinds::new(snap);
        let facts = Facts::of(&kinds);
        let look = facts.look(&kinds);
        let (count, mid) = (
            snap.node_count() as NodeIndex,
            snap.node_count() as NodeIndex / 2,
        );
        let (first, second) = std::thread::scope(|s| {
            let second = s.spawn(|| look.part(mid..count));
            (look.part(0..mid), second.join().expect("census thread"))
        });
        let Part { counted, big, keys } = first.then(second);
        let Facts {
            shapes,
            node_shapes,
            detached,
            marks,
            size,
        } = facts;
        // Freed before the list is made whole and sorted.
        drop((node_shapes, detached, marks, size));
        let mut out = counted.into_vec();
        // Stable: each half is already in long runs of ids, which it finds.
        // (Ids are unique in V8's snapshots; were two the same, the one met
        // first would stay first.)
        out.sort_by_key(|c| c.id);
        Table {
            counted: out,
            big,
            keys,
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

/// What naming the counted nodes needs of a snapshot: its property sets
/// and detached DOM, found beside the passes that say what counts.
struct Facts {
    shapes: Vec<(String, usize)>,
    node_shapes: Vec<(NodeIndex, u32)>,
    detached: Vec<bool>,
    marks: Vec<u8>,
    size: Sizes,
}

impl Facts {
    fn of(kinds: &Kinds) -> Facts {
        std::thread::scope(|s| {
            let side = s.spawn(|| (shapes(kinds), detached_nodes(kinds)));
            let (marks, size) = counted(kinds);
            let ((shapes, node_shapes), detached) = side.join().expect("shapes thread");
            Facts {
                shapes,
                node_shapes,
                detached,
                marks,
                size,
            }
        })
    }

    fn look<'l>(&'l self, kinds: &'l Kinds<'l>) -> Look<'l> {
        Look {
            kinds,
            marks: &self.marks,
            size: &self.size,
            detached: &self.detached,
            node_shapes: &self.node_shapes,
        }
    }
}

/// What naming the counted nodes reads.
struct Look<'l> {
    kinds: &'l Kinds<'l>,
    marks: &'l [u8],
    size: &'l Sizes,
    detached: &'l [bool],
    /// The plain objects that have a property set, in node order.
    node_shapes: &'l [(NodeIndex, u32)],
}

/// The counted nodes of a range of nodes, with their class keys in the
/// order the range first meets them.
struct Part {
    counted: Pieces,
    big: HashMap<u32, u64>,
    keys: Vec<Key>,
}

impl Look<'_> {
    fn part(&self, nodes: std::ops::Range<NodeIndex>) -> Part {
        let (kinds, size) = (self.kinds, self.size);
        let snap = kinds.snap;
        let mut keys = Keys::new(kinds);
        let first_shape = self.node_shapes.partition_point(|(p, _)| *p < nodes.start);
        let mut plain = self.node_shapes[first_shape..].iter().peekable();
        let mut out = Pieces::default();
        let mut big = HashMap::new();
        for n in nodes {
            let i = n as usize;
            if !is_counted(kinds, n, self.marks[i], size.get(n)) {
                continue;
            }
            while plain.next_if(|(p, _)| *p < n).is_some() {}
            let key = if self.detached.get(i) == Some(&true) {
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
        Part {
            counted: out,
            big,
            keys: keys.keys,
        }
    }
}

impl Part {
    /// This part, then `next` (the nodes after it): `next`'s keys become
    /// this part's, those it met first added in its order, as one pass over
    /// both ranges would have made them.
    fn then(mut self, mut next: Part) -> Part {
        let mut index: HashMap<Key, u32> = self
            .keys
            .iter()
            .enumerate()
            .map(|(k, key)| (key.clone(), k as u32))
            .collect();
        let mut keys = std::mem::take(&mut self.keys);
        let renamed: Vec<u32> = next
            .keys
            .into_iter()
            .map(|key| {
                *index.entry(key.clone()).or_insert_with(|| {
                    keys.push(key);
                    keys.len() as u32 - 1
                })
            })
            .collect();
        self.keys = keys;
        for piece in &mut next.counted.0 {
            for c in piece.iter_mut() {
                c.class = renamed[c.class as usize];
            }
        }
        self.counted.0.append(&mut next.counted.0);
        self.big.extend(next.big);
        self
    }
}

/// Counted nodes in pieces of a fixed size. Two parts join by moving
/// pieces, and become one list a piece at a time: at no point are the
/// whole list and a whole copy of it held.
#[derive(Default)]
struct Pieces(Vec<Vec<Counted>>);

impl Pieces {
    const LEN: usize = 1 << 16;

    fn push(&mut self, c: Counted) {
        match self.0.last_mut() {
            Some(last) if last.len() < Self::LEN => last.push(c),
            _ => {
                let mut piece = Vec::with_capacity(Self::LEN);
                piece.push(c);
                self.0.push(piece);
            }
        }
    }

    fn into_vec(self) -> Vec<Counted> {
        let mut out = Vec::with_capacity(self.0.iter().map(Vec::len).sum());
        for piece in self.0 {
            out.extend(piece);
        }
        out
    }
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
/// Not program state (see [`inert_nodes`]).
const INERT: u8 = 8;

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
    // Which nodes are inert is a mark too: the allocation is reused.
    let mut marks: Vec<u8> = inert_nodes(kinds)
        .into_iter()
        .map(|inert| if inert { INERT } else { 0 })
        .collect();
    let owner = first_look(kinds, &mut marks);
    // The second look and the sizes need only the first: side by side.
    std::thread::scope(|s| {
        let size = s.spawn(|| folded_sizes(kinds, &owner));
        mark_held(kinds, &mut marks);
        (marks, size.join().expect("size thread"))
    })
}

/// Owners of foldable nodes (DevTools folds a node into its one owner),
/// and, in `marks`, a first look at which nodes the program holds. The edges of a node
/// are walked as slices, without a bounds check or a branch per edge;
/// only `(Global handles)` tests each edge's name.
fn first_look(kinds: &Kinds, marks: &mut [u8]) -> Vec<NodeIndex> {
    let snap = kinds.snap;
    let count = snap.node_count();
    let mut owner = vec![NONE; count];
    for from in 0..count as NodeIndex {
        let edges = snap.edges(from);
        let handles = kinds.is_global_handles(from);
        // An owner stays `from` only while no other node (and no
        // synthetic one) refers to the node.
        let sole = if kinds.is_synthetic(from) || from == 0 {
            MANY
        } else {
            from
        };
        let program = if marks[from as usize] & INERT != 0 {
            0
        } else {
            HELD_FIRST
        };
        let start = edges.start;
        let types = &snap.edge_type[edges.clone()];
        for (i, (&ty, &to)) in types.iter().zip(&snap.edge_to[edges]).enumerate() {
            if kinds.is_weak_type(ty) {
                continue;
            }
            let to = to as usize;
            let o = owner[to];
            owner[to] = if o == NONE || o == sole { sole } else { MANY };
            let held = if handles && is_inspector_handle(kinds, from, start + i) {
                0
            } else {
                program
            };
            marks[to] |= RETAINED | held;
        }
    }
    owner
}

/// Mark what a retainer holds that is program state and itself held so.
fn mark_held(kinds: &Kinds, marks: &mut [u8]) {
    let snap = kinds.snap;
    let held_first = |m: u8| m & HELD_FIRST != 0 || m & RETAINED == 0;
    for from in 0..snap.node_count() as NodeIndex {
        let m = marks[from as usize];
        if m & INERT != 0 || !held_first(m) {
            continue;
        }
        let edges = snap.edges(from);
        let handles = kinds.is_global_handles(from);
        let start = edges.start;
        let types = &snap.edge_type[edges.clone()];
        for (i, (&ty, &to)) in types.iter().zip(&snap.edge_to[edges]).enumerate() {
            if kinds.is_weak_type(ty) || (handles && is_inspector_handle(kinds, from, start + i)) {
                continue;
            }
            marks[to as usize] |= HELD;
        }
    }
}

/// Each node's self size, with the sizes of foldable nodes moved into
/// their one owner.
fn folded_sizes(kinds: &Kinds, owner: &[NodeIndex]) -> Sizes {
    let snap = kinds.snap;
    let mut size = Sizes {
        small: snap.node_size.clone(),
        big: snap.big_sizes.clone(),
    };
    for (n, &o) in owner.iter().enumerate() {
        let n = n as NodeIndex;
        if o != NONE && o != MANY && kinds.is_foldable(n) {
            size.set(o, size.get(o) + size.get(n));
            size.set(n, 0);
        }
    }
    size
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::testing::snapshot;

    /// Counted in two parts split anywhere, the nodes get the table one
    /// pass over all of them gives: the same rows and the same keys, in
    /// the order that pass first meets them.
    #[test]
    fn two_parts_name_nodes_as_one_pass() {
        let prop = |name: &'static str, to| ("property", name, to);
        let snap = snapshot(&[
            (
                "synthetic",
                "",
                1,
                0,
                &[
                    ("element", "1", 1),
                    ("element", "2", 2),
                    ("element", "3", 3),
                    ("element", "4", 4),
                    ("element", "5", 5),
                    ("element", "6", 6),
                    ("element", "7", 7),
                    ("element", "8", 8),
                ],
            ),
            ("object", "Widget", 3, 32, &[]),
            ("object", "Object", 5, 24, &[prop("a", 1), prop("b", 3)]),
            ("object", "Gadget", 7, 16, &[]),
            ("object", "Object", 9, 24, &[prop("a", 1), prop("b", 3)]),
            ("object", "system / Thing", 11, 8, &[]),
            ("object", "Object", 13, 16, &[]),
            ("object", "Widget", 15, 32, &[]),
            ("object", "Gizmo", 17, 8, &[]),
        ]);
        let kinds = Kinds::new(&snap);
        let facts = Facts::of(&kinds);
        let look = facts.look(&kinds);
        let count = snap.node_count() as NodeIndex;
        let whole = look.part(0..count);
        let rows = whole.counted.into_vec();
        assert_eq!(rows.len(), 7, "{rows:?}");
        for mid in 0..=count {
            let split = look.part(0..mid).then(look.part(mid..count));
            assert_eq!(split.counted.into_vec(), rows, "split at {mid}");
            assert_eq!(split.keys, whole.keys, "split at {mid}");
            assert_eq!(split.big, whole.big, "split at {mid}");
        }
    }
}
