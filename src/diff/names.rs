//! The class name of each node of a table, as DevTools' Comparison view
//! names it: the names of `calculateObjectNames`, a plain object named
//! after its property set (`{a, b}`), and a DOM node detached from its
//! document as `Detached <tag>`. While a table is made, names are interned
//! as keys; a property set becomes a name only once the comparison knows
//! which sets are shared (see `Table::resolve`).

use std::borrow::Cow;
use std::collections::HashMap;

use super::kinds::Kinds;
use crate::snapshot::NodeIndex;

/// Longest property-set name, as in DevTools.
const MAX_INTERFACE_LEN: usize = 120;

/// What a counted object's class name will be.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Key {
    Name(String),
    /// A plain object with these properties (`shapes[i]`): named after
    /// them if they are one of the comparison's interfaces, else `Object`.
    Shape(u32),
}

/// Class keys of one table: each name once, and a memo of the class of
/// each node name (for `object` and `native` nodes) or node type (others).
pub(super) struct Keys<'k> {
    kinds: &'k Kinds<'k>,
    pub keys: Vec<Key>,
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
    pub fn new(kinds: &'k Kinds<'k>) -> Keys<'k> {
        Keys {
            kinds,
            keys: Vec::new(),
            index: HashMap::new(),
            shape_keys: HashMap::new(),
            by_name: Vec::new(),
            by_type: [UNSEEN; 256],
        }
    }

    pub fn name(&mut self, name: &str) -> u32 {
        if let Some(&k) = self.index.get(name) {
            return k;
        }
        let k = self.keys.len() as u32;
        self.keys.push(Key::Name(name.to_owned()));
        self.index.insert(name.to_owned(), k);
        k
    }

    pub fn shape(&mut self, shape: u32) -> u32 {
        *self.shape_keys.entry(shape).or_insert_with(|| {
            self.keys.push(Key::Shape(shape));
            self.keys.len() as u32 - 1
        })
    }

    /// The key of a node that is neither detached nor a plain object, or
    /// `None` for V8's own (`system / …`).
    pub fn of(&mut self, n: NodeIndex) -> Option<u32> {
        let snap = self.kinds.snap;
        let named = self.kinds.is_named(n);
        let (name, ty) = (
            snap.node_name[n as usize] as usize,
            snap.node_type[n as usize] as usize,
        );
        let mut key = if named {
            self.by_name.get(name).copied().unwrap_or(UNSEEN)
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
                // Grown to the names met: most strings name no object.
                if name >= self.by_name.len() {
                    self.by_name.resize(name + 1, UNSEEN);
                }
                self.by_name[name] = key;
            } else {
                self.by_type[ty] = key;
            }
        }
        (key != SKIPPED).then_some(key)
    }

    /// The key of a DOM node detached from its document.
    pub fn detached(&mut self, n: NodeIndex) -> Option<u32> {
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
pub(super) fn shapes(kinds: &Kinds) -> (Vec<(String, usize)>, Vec<(NodeIndex, u32)>) {
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
pub(super) fn detached_nodes(kinds: &Kinds) -> Vec<bool> {
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
