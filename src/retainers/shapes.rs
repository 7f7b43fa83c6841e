//! Grouping objects by the shape of their retainer paths: the classes and
//! edge names from a root to the object, with element indices and table
//! slots as `[i]`. 2000 loggers in a module-level array are one group,
//! `(module log.js) ::loggers → Array [i] → Function`, however far each
//! sits from a root; what the runtime made on first use is another.
//!
//! Every object of a class is walked, cheaply: the shape of a node is
//! remembered, so an object costs one step past a holder already walked
//! (a million objects in one array are one step each). Only one object per
//! shape is described as text.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::{
    EdgeText, RetainerTree, UNREACHED, edge_text, is_dictionary, is_global, module_context,
};
use crate::snapshot::{NodeIndex, Snapshot, type_codes};

/// Groups shown per class: the largest, then the next ones that hold a
/// real part of the class (see [`MIN_GROUP_PERCENT`]).
pub const MAX_GROUPS: usize = 3;
/// A group after the largest is shown when it holds at least this share,
/// in percent, of the class's new objects.
pub const MIN_GROUP_PERCENT: u64 = 10;
/// Shapes described as text per class, the largest first; smaller ones
/// could never be shown.
const DESCRIBED: usize = 64;

/// Shape ids: that of the root and of every node before the first program
/// object of a path (none of it is shown), and that of nodes no path
/// reaches.
const BEFORE: u32 = 0;
const NO_PATH: u32 = 1;
const UNSET: u32 = u32::MAX;
/// The edge of a step that is not shown (it leaves a node before the path
/// starts).
const NO_EDGE: u32 = u32::MAX;

/// Objects whose paths have one shape: the path as text, and how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathGroup {
    pub path: String,
    pub count: u64,
}

/// One step of a shape: the shape of the holder, the edge as it reads, and
/// what decides how the node reads (its type, name, whether a path may
/// start there, and, for a `Generator`, a module's scope or a global
/// object, which one: they are named after the module or async function,
/// or by what they are rather than by their name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Step {
    holder: u32,
    edge: u32,
    node_type: u8,
    name: u32,
    start: bool,
    /// A detached DOM node reads `Detached <div>`.
    detached: bool,
    identity: NodeIndex,
}

/// Names that paths never show, as `Step::name`: a string's contents, a
/// Context's (`system / Context / scope @9`).
const SYSTEM_NAME: u32 = u32::MAX;
const OTHER_NAME: u32 = u32::MAX - 1;
const CONTEXT_NAME: u32 = u32::MAX - 2;

/// What a node's name says about how a path reads it, by string index.
#[derive(Clone, Copy, Default)]
struct NameKind {
    known: bool,
    /// `system…`: V8's own (see `is_plumbing`).
    system: bool,
    /// `system / Context…`: a scope.
    context: bool,
    generator: bool,
    /// Might name a global object (see `is_global`).
    global: bool,
}

/// A fast hash for the small integer keys of shapes (one step per object
/// of a million-object class): the multiply-rotate hash rustc uses.
#[derive(Default)]
struct Fx(u64);

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<Fx>>;

/// The shapes of the paths of one snapshot's nodes, found as asked for.
pub struct PathShapes<'a> {
    tree: &'a RetainerTree,
    snap: &'a Snapshot,
    start: &'a dyn Fn(NodeIndex) -> bool,
    /// Each node's shape id once walked, else `UNSET`.
    shape: Vec<u32>,
    steps: FxMap<Step, u32>,
    /// Edge texts by (edge type, name, leaves a backing array, leaves a
    /// dictionary), and their ids.
    edges: FxMap<(u8, u32, bool, bool), u32>,
    edge_texts: HashMap<String, u32>,
    dictionaries: FxMap<NodeIndex, bool>,
    names: Vec<NameKind>,
    backing: Vec<u8>,
    /// Node types that are V8's plumbing (see `is_plumbing`).
    plumbing: Vec<u8>,
    /// Node types whose names paths never show (strings, numbers…).
    unnamed: Vec<u8>,
    property: Vec<u8>,
    element: Vec<u8>,
    walk: Vec<NodeIndex>,
    /// The last step taken, and its shape.
    last: Option<(StepInputs, u32)>,
}

/// What a step's shape follows from, but a named node's identity:
/// (holder, edge key, node type, node name, start, detached).
type StepInputs = (u32, (u8, u32, bool, bool), u8, u32, bool, bool);

impl<'a> PathShapes<'a> {
    /// Shapes of paths in `snap` (whose tree is `tree`) that start at the
    /// first program object `start` accepts, as
    /// [`RetainerTree::describe_from`].
    pub fn new(
        tree: &'a RetainerTree,
        snap: &'a Snapshot,
        start: &'a dyn Fn(NodeIndex) -> bool,
    ) -> PathShapes<'a> {
        PathShapes {
            tree,
            snap,
            start,
            shape: vec![UNSET; snap.node_count()],
            steps: FxMap::default(),
            edges: FxMap::default(),
            edge_texts: HashMap::new(),
            dictionaries: FxMap::default(),
            names: vec![NameKind::default(); snap.strings.len()],
            backing: type_codes(&snap.node_types, |t| matches!(t, "array" | "hidden")),
            plumbing: type_codes(&snap.node_types, |t| {
                matches!(t, "synthetic" | "hidden" | "array")
            }),
            unnamed: type_codes(&snap.node_types, |t| {
                !matches!(t, "object" | "native" | "closure" | "synthetic")
            }),
            property: type_codes(&snap.edge_types, |t| t == "property"),
            element: type_codes(&snap.edge_types, |t| t == "element"),
            walk: Vec::new(),
            last: None,
        }
    }

    /// The path of `node`, as [`RetainerTree::describe_from`] says it.
    pub fn describe(&self, node: NodeIndex) -> Option<String> {
        self.tree.describe_from(self.snap, node, self.start)
    }

    /// `nodes` (one class's objects) grouped by the shape of their paths,
    /// as shown: the largest group, then up to [`MAX_GROUPS`] in all while
    /// each holds at least [`MIN_GROUP_PERCENT`] of `nodes`. Ties go to the
    /// path that reads first, so the same code gives the same text.
    /// Objects no path reaches are in no group.
    pub fn groups(&mut self, nodes: &[NodeIndex]) -> Vec<PathGroup> {
        let mut all = self.all_groups(nodes);
        let total = nodes.len() as u64;
        let mut shown = 0;
        all.retain(|g| {
            shown += 1;
            shown == 1 || (shown <= MAX_GROUPS && g.count * 100 >= total * MIN_GROUP_PERCENT)
        });
        all
    }

    /// Every group of `nodes` (of the largest shapes), largest first.
    fn all_groups(&mut self, nodes: &[NodeIndex]) -> Vec<PathGroup> {
        // Shape id → (count, first node of that shape, in `nodes`' order).
        let mut counts: FxMap<u32, (u64, usize)> = FxMap::default();
        for (i, &n) in nodes.iter().enumerate() {
            if let Some(s) = self.target_shape(n) {
                counts.entry(s).or_insert((0, i)).0 += 1;
            }
        }
        let mut shapes: Vec<(u64, usize)> = counts.into_values().collect();
        shapes.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        shapes.truncate(DESCRIBED);
        // Shapes that differ only in what the text leaves out (ids, a
        // Context's name) read the same: one group.
        let mut by_text: HashMap<String, u64> = HashMap::new();
        for (count, i) in shapes {
            if let Some(text) = self.describe(nodes[i]) {
                *by_text.entry(text).or_default() += count;
            }
        }
        let mut groups: Vec<PathGroup> = by_text
            .into_iter()
            .map(|(path, count)| PathGroup { path, count })
            .collect();
        groups.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.path.cmp(&b.path)));
        groups
    }

    /// The shape of the path to `n` as the object it ends at: unlike
    /// [`Self::shape_of`], a path with no program object still says what it
    /// ends at.
    fn target_shape(&mut self, n: NodeIndex) -> Option<u32> {
        if n == 0 {
            return None;
        }
        let parent = self.tree.parent[n as usize];
        if parent == UNREACHED {
            return None;
        }
        match self.shape_of(parent) {
            NO_PATH => None,
            holder => Some(self.step(holder, n, true)),
        }
    }

    /// The shape id of `n`'s path as it leads on: walk up to the first node
    /// whose shape is known (or the root), then name each step down.
    fn shape_of(&mut self, n: NodeIndex) -> u32 {
        let mut walk = std::mem::take(&mut self.walk);
        let mut m = n;
        let mut shape = loop {
            if m == 0 {
                break BEFORE;
            }
            match self.shape[m as usize] {
                UNSET => {}
                known => break known,
            }
            if self.tree.parent[m as usize] == UNREACHED {
                break NO_PATH;
            }
            walk.push(m);
            m = self.tree.parent[m as usize];
        };
        while let Some(m) = walk.pop() {
            if shape != NO_PATH {
                shape = self.step(shape, m, false);
            }
            self.shape[m as usize] = shape;
        }
        self.walk = walk;
        shape
    }

    /// What the name of `m` says (see [`NameKind`]), read once per name.
    fn name_kind(&mut self, m: NodeIndex) -> NameKind {
        let index = self.snap.node_name[m as usize] as usize;
        match self.names.get(index) {
            Some(kind) if kind.known => *kind,
            _ => {
                let name = self.snap.name(m);
                let kind = NameKind {
                    known: true,
                    system: name.starts_with("system"),
                    context: name.starts_with("system / Context"),
                    generator: name == "Generator",
                    global: name == "global" || name.contains("[JSGlobal"),
                };
                if let Some(slot) = self.names.get_mut(index) {
                    *slot = kind;
                }
                kind
            }
        }
    }

    /// The shape of `m`, whose holder's shape is `holder`; as the end of a
    /// path when `target`.
    fn step(&mut self, holder: u32, m: NodeIndex, target: bool) -> u32 {
        let snap = self.snap;
        let kind = self.name_kind(m);
        let node_type = snap.node_type[m as usize];
        // A path starts at its first program object: what comes before is
        // not shown, so it is all one shape (as `is_plumbing` says).
        let start = (self.start)(m);
        let program = !(self.plumbing.contains(&node_type) || kind.system) && start;
        if holder == BEFORE && !program && !target {
            return BEFORE;
        }
        let from = self.tree.parent[m as usize];
        let e = self.tree.parent_edge[m as usize] as usize;
        let edge_type = snap.edge_type[e];
        let dictionary = self.property.contains(&edge_type)
            && *self
                .dictionaries
                .entry(from)
                .or_insert_with(|| is_dictionary(snap, from));
        let backing = self.backing.contains(&snap.node_type[from as usize]);
        // Every element edge reads `[i]`, whatever its index.
        let name = if self.element.contains(&edge_type) {
            0
        } else {
            snap.edge_name[e]
        };
        let key = (edge_type, name, backing, dictionary);
        // Objects side by side (a million in one array) take the same step
        // as the one before: no hashing. A node named after what it is
        // (a module, a global) is never taken for another.
        let same = (
            holder,
            key,
            node_type,
            snap.node_name[m as usize],
            start,
            snap.is_detached(m),
        );
        let named = kind.generator || kind.context || kind.global;
        if let Some((last, shape)) = self.last
            && last == same
            && !named
        {
            return shape;
        }
        let edge = match self.edges.get(&key) {
            _ if holder == BEFORE => NO_EDGE,
            Some(&id) => id,
            None => {
                let text = match edge_text(snap, e, backing, dictionary) {
                    EdgeText::Plain(text) => text,
                    // No text edge starts with a NUL.
                    EdgeText::Entry { key } => format!("\0entry {key}"),
                };
                let next = self.edge_texts.len() as u32;
                let id = *self.edge_texts.entry(text).or_insert(next);
                self.edges.insert(key, id);
                id
            }
        };
        let step = Step {
            holder,
            edge,
            node_type,
            name: if self.unnamed.contains(&node_type) {
                // Only whether it looks like V8's own (see `is_plumbing`).
                if kind.system { SYSTEM_NAME } else { OTHER_NAME }
            } else if kind.context {
                CONTEXT_NAME
            } else {
                snap.node_name[m as usize]
            },
            start,
            detached: snap.is_detached(m),
            identity: if kind.generator
                || (kind.context && module_context(snap, m).is_some())
                || (kind.global && is_global(snap, m))
            {
                m
            } else {
                UNREACHED
            },
        };
        // Ids 0 and 1 are `BEFORE` and `NO_PATH`.
        let next = self.steps.len() as u32 + 2;
        let shape = *self.steps.entry(step).or_insert(next);
        self.last = (!named).then_some((same, shape));
        shape
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::testing::{N, snapshot};

    /// `count` element edges named 0.. to the nodes from `first` on.
    fn elements(first: usize, count: usize) -> Vec<(&'static str, &'static str, usize)> {
        (0..count)
            .map(|i| {
                let name: &'static str = Box::leak(i.to_string().into_boxed_str());
                ("element", name, first + i)
            })
            .collect()
    }

    fn groups(nodes: &[N], of: std::ops::Range<NodeIndex>) -> Vec<(String, u64)> {
        let s = snapshot(nodes);
        let tree = RetainerTree::build(&s);
        let start = |_: NodeIndex| true;
        let mut shapes = PathShapes::new(&tree, &s, &start);
        let of: Vec<NodeIndex> = of.collect();
        shapes
            .groups(&of)
            .into_iter()
            .map(|g| (g.path, g.count))
            .collect()
    }

    /// Twenty loggers in an array, and what the runtime made on first use,
    /// held closer to a root: one closure as a property, three in an array.
    ///
    /// ```text
    /// root ─▶ (GC roots) ─▶ (global) ─.stderr─▶ Stream ─.destroy─▶ Function #5
    ///                          │                  └─.hooks─▶ Array ─[0..2]─▶ Function #6–8
    ///                          └─.loggers─▶ Array ─[0..19]─▶ Function #9–28
    /// ```
    #[test]
    fn the_largest_group_comes_first_not_the_closest_object() {
        let hooks = elements(6, 3);
        let loggers = elements(9, 20);
        let mut nodes: Vec<N> = vec![
            ("synthetic", "", 1, 0, &[("element", "1", 1)]),
            ("synthetic", "(GC roots)", 3, 0, &[("element", "1", 2)]),
            (
                "object",
                "Window [JSGlobalObject]",
                5,
                32,
                &[("property", "stderr", 3), ("property", "loggers", 29)],
            ),
            (
                "object",
                "Stream",
                7,
                32,
                &[("property", "destroy", 5), ("property", "hooks", 4)],
            ),
            ("object", "Array", 9, 16, &hooks),
        ];
        for i in 0..24 {
            nodes.push(("closure", "", 11 + 2 * i as u64, 32, &[]));
        }
        nodes.push(("object", "Array", 99, 16, &loggers));
        assert_eq!(
            groups(&nodes, 5..29),
            [
                ("(global) .loggers → Array [i] → Function".to_owned(), 20),
                // 3 of 24: over 10 %, shown; the lone `destroy` is not.
                (
                    "(global) .stderr → Stream .hooks → Array [i] → Function".to_owned(),
                    3
                ),
            ]
        );
    }

    /// Equal groups read in the order of their text, whatever the order of
    /// the objects; at most three are shown.
    ///
    /// ```text
    /// (global) ─.d/.c/.b/.a─▶ Array ─[0]─▶ Item   (four arrays, one item each)
    /// ```
    #[test]
    fn ties_go_to_the_path_that_reads_first() {
        let nodes: Vec<N> = vec![
            ("synthetic", "", 1, 0, &[("element", "1", 1)]),
            (
                "object",
                "Window [JSGlobalObject]",
                3,
                32,
                &[
                    ("property", "d", 2),
                    ("property", "c", 3),
                    ("property", "b", 4),
                    ("property", "a", 5),
                ],
            ),
            ("object", "Array", 5, 16, &[("element", "0", 6)]),
            ("object", "Array", 7, 16, &[("element", "0", 7)]),
            ("object", "Array", 9, 16, &[("element", "0", 8)]),
            ("object", "Array", 11, 16, &[("element", "0", 9)]),
            ("object", "Item", 13, 16, &[]),
            ("object", "Item", 15, 16, &[]),
            ("object", "Item", 17, 16, &[]),
            ("object", "Item", 19, 16, &[]),
        ];
        let shown: Vec<String> = groups(&nodes, 6..10).into_iter().map(|g| g.0).collect();
        assert_eq!(
            shown,
            [
                "(global) .a → Array [i] → Item",
                "(global) .b → Array [i] → Item",
                "(global) .c → Array [i] → Item",
            ]
        );
    }

    /// Map table slots are `[i]`; an object used as a dictionary (V8's
    /// dictionary mode, 16 keys or more) reads `.*` for its keys; an object
    /// no path reaches is in no group.
    ///
    /// ```text
    /// (global) ─.cache─▶ Map ─(table)─▶ (array) ─3, 6─▶ Entry ×2
    /// (global) ─.callbacks─▶ Object ─.$e0…$e15─▶ Array ×16
    ///                          └─(properties)─▶ (object properties)
    /// Entry #… (unreachable)
    /// ```
    #[test]
    fn slots_and_dictionary_keys_are_generalised() {
        let keys: Vec<(&str, &str, usize)> = (0..16)
            .map(|i| {
                let name: &'static str = Box::leak(format!("$e{i}").into_boxed_str());
                ("property", name, 8 + i)
            })
            .chain([("internal", "properties", 7)])
            .collect();
        let mut nodes: Vec<N> = vec![
            ("synthetic", "", 1, 0, &[("element", "1", 1)]),
            (
                "object",
                "Window [JSGlobalObject]",
                3,
                32,
                &[("property", "cache", 2), ("property", "callbacks", 6)],
            ),
            ("object", "Map", 5, 32, &[("internal", "table", 3)]),
            (
                "array",
                "",
                7,
                64,
                &[("internal", "3", 4), ("internal", "6", 5)],
            ),
            ("object", "Entry", 9, 16, &[]),
            ("object", "Entry", 11, 16, &[]),
            ("object", "Object", 13, 24, &keys),
            ("array", "(object properties)", 15, 512, &[]),
        ];
        for i in 0..16 {
            nodes.push(("object", "Array", 17 + 2 * i as u64, 16, &[]));
        }
        nodes.push(("object", "Entry", 99, 16, &[]));
        assert_eq!(
            groups(&nodes, 4..6),
            [("(global) .cache → Map (table)[i] → Entry".to_owned(), 2)]
        );
        assert_eq!(
            groups(&nodes, 8..24),
            [("(global) .callbacks → Object .* → Array".to_owned(), 16)]
        );
        let entries = [4, 5, nodes.len() as NodeIndex - 1];
        let s = snapshot(&nodes);
        let tree = RetainerTree::build(&s);
        let start = |_: NodeIndex| true;
        let mut shapes = PathShapes::new(&tree, &s, &start);
        assert_eq!(shapes.groups(&entries)[0].count, 2);
    }

    /// What comes before a path's first program object is not shown, so
    /// it does not split groups: a hundred strings in V8's string table,
    /// each at its own index, are one group (more than are ever described).
    ///
    /// ```text
    /// root ─▶ (Internalized strings) ─[0..99]─▶ (string) ×100
    /// ```
    #[test]
    fn what_precedes_the_path_does_not_split_groups() {
        let table: Vec<(&str, &str, usize)> = elements(2, 100)
            .into_iter()
            .map(|(_, name, to)| ("hidden", name, to))
            .collect();
        let mut nodes: Vec<N> = vec![
            ("synthetic", "", 1, 0, &[("element", "1", 1)]),
            ("synthetic", "(Internalized strings)", 3, 0, &table),
        ];
        let names: Vec<String> = (0..100).map(|i| format!("key{i}")).collect();
        for (i, name) in names.iter().enumerate() {
            nodes.push(("string", name, 5 + 2 * i as u64, 24, &[]));
        }
        assert_eq!(groups(&nodes, 2..102), [("(string)".to_owned(), 100)]);
    }

    /// V8's string table does not keep a string alive: a property name in
    /// it reads from the object whose key it is, even when the table is
    /// the shorter way to it (as on Node).
    ///
    /// ```text
    /// root ─▶ (Internalized strings) ─[0]─▶ (string)
    ///   └───▶ (GC roots) ─▶ (global) ─.keys─▶ Object ─(properties)[0]─▶ (string)
    /// ```
    #[test]
    fn a_property_name_reads_from_its_object_not_the_string_table() {
        let nodes: Vec<N> = vec![
            (
                "synthetic",
                "",
                1,
                0,
                &[("element", "1", 1), ("element", "2", 2)],
            ),
            (
                "synthetic",
                "(Internalized strings)",
                3,
                0,
                &[("hidden", "0", 5)],
            ),
            ("synthetic", "(GC roots)", 5, 0, &[("element", "1", 3)]),
            ("object", "(global)", 7, 16, &[("property", "keys", 4)]),
            ("object", "Object", 9, 16, &[("hidden", "0", 5)]),
            ("string", "key", 11, 24, &[]),
        ];
        assert_eq!(
            groups(&nodes, 5..6),
            [("(global) .keys → Object [0] → (string)".to_owned(), 1)]
        );
    }
}
