//! What the census asks of every node and edge, looked up once per snapshot:
//! flags per node type, per edge type and per name, so that a pass over a
//! million nodes tests bits instead of comparing type names and prefixes.

use crate::snapshot::{NodeIndex, Snapshot};

// Flags of a node type.
const SYNTHETIC: u8 = 1;
/// `code` and `object shape`: metadata whatever their name.
const META_TYPE: u8 = 2;
/// `hidden` and `array`: folded into their one owner.
const FOLDED_TYPE: u8 = 4;
const NATIVE: u8 = 8;
const OBJECT: u8 = 16;
/// Types that never show (see `census::is_noise_type`).
const NOISE: u8 = 32;

// Flags of a name (an index into `strings`).
/// A synthetic root whose references are not the program's.
const META_ROOT_NAME: u8 = 1;
/// V8 metadata named `system / AllocationSite`, `FeedbackVector`, ….
const META_NAME: u8 = 2;
/// A DOM node's name: `<div …>`, `Text`, `Comment`, `CDATASection`.
const DOM_NAME: u8 = 4;
/// `system / JSArrayBufferData`: a backing store, folded into its buffer.
const BUFFER_NAME: u8 = 8;
const GLOBAL_HANDLES: u8 = 16;
/// Exactly `Object`: a plain object, named after its property set.
const OBJECT_NAME: u8 = 32;

/// The lookup tables of one snapshot.
pub(super) struct Kinds<'s> {
    pub snap: &'s Snapshot,
    node: [u8; 256],
    weak: [bool; 256],
    property: [bool; 256],
    names: Vec<u8>,
}

impl<'s> Kinds<'s> {
    pub fn new(snap: &'s Snapshot) -> Kinds<'s> {
        let mut node = [0u8; 256];
        for (code, flags) in node.iter_mut().enumerate() {
            let ty = snap.node_types.get(code).map_or("unknown", String::as_str);
            *flags = match ty {
                "synthetic" => SYNTHETIC | NOISE,
                "code" | "object shape" => META_TYPE | NOISE,
                "hidden" | "array" => FOLDED_TYPE | NOISE,
                "native" => NATIVE | NOISE,
                "number" => NOISE,
                "object" => OBJECT,
                _ => 0,
            };
        }
        let (mut weak, mut property) = ([false; 256], [false; 256]);
        for code in 0..256 {
            let ty = snap.edge_types.get(code).map_or("unknown", String::as_str);
            weak[code] = ty == "weak";
            property[code] = ty == "property";
        }
        let names = (0..snap.strings.len() as u32)
            .map(|i| name_flags(snap.strings.get(i)))
            .collect();
        Kinds {
            snap,
            node,
            weak,
            property,
            names,
        }
    }

    fn node(&self, n: NodeIndex) -> u8 {
        self.node[self.snap.node_type[n as usize] as usize]
    }

    fn name(&self, n: NodeIndex) -> u8 {
        let name = self.snap.node_name[n as usize] as usize;
        self.names.get(name).copied().unwrap_or(0)
    }

    pub fn is_synthetic(&self, n: NodeIndex) -> bool {
        self.node(n) & SYNTHETIC != 0
    }

    pub fn is_object(&self, n: NodeIndex) -> bool {
        self.node(n) & OBJECT != 0
    }

    pub fn is_noise_type(&self, n: NodeIndex) -> bool {
        self.node(n) & NOISE != 0
    }

    /// Whether the node's class depends on its name (`object`, `native`).
    pub fn is_named(&self, n: NodeIndex) -> bool {
        self.node(n) & (OBJECT | NATIVE) != 0
    }

    pub fn is_weak(&self, e: usize) -> bool {
        self.is_weak_type(self.snap.edge_type[e])
    }

    /// Whether an edge of type code `ty` is weak.
    pub fn is_weak_type(&self, ty: u8) -> bool {
        self.weak[ty as usize]
    }

    pub fn is_property(&self, e: usize) -> bool {
        self.property[self.snap.edge_type[e] as usize]
    }

    /// A plain `Object` (which may be named after its property set).
    pub fn is_plain_object(&self, n: NodeIndex) -> bool {
        self.is_object(n) && self.name(n) & OBJECT_NAME != 0
    }

    /// See `census::is_metadata`.
    pub fn is_metadata(&self, n: NodeIndex) -> bool {
        let ty = self.node(n);
        if ty & META_TYPE != 0 {
            true
        } else if ty & SYNTHETIC != 0 {
            self.name(n) & META_ROOT_NAME != 0
        } else {
            self.name(n) & META_NAME != 0
        }
    }

    /// See `census::is_dom_node`.
    pub fn is_dom_node(&self, n: NodeIndex) -> bool {
        self.node(n) & NATIVE != 0 && self.name(n) & DOM_NAME != 0
    }

    /// See `census::is_foldable`.
    pub fn is_foldable(&self, n: NodeIndex) -> bool {
        let ty = self.node(n);
        ty & FOLDED_TYPE != 0 || (ty & NATIVE != 0 && self.name(n) & BUFFER_NAME != 0)
    }

    /// Whether the node is `(Global handles)`, whose edges to the
    /// inspector's scopes are not the program's.
    pub fn is_global_handles(&self, n: NodeIndex) -> bool {
        self.is_synthetic(n) && self.name(n) & GLOBAL_HANDLES != 0
    }
}

fn name_flags(name: &str) -> u8 {
    let mut flags = 0;
    if matches!(
        name,
        "(Stack roots)" | "(Handle scope)" | "(Internalized strings)" | "C++ native stack roots"
    ) {
        flags |= META_ROOT_NAME;
    }
    if let Some(system) = name.strip_prefix("system / ") {
        if system.starts_with("AllocationSite")
            || system.starts_with("FeedbackVector")
            || system.starts_with("RegExpMatchInfo")
        {
            flags |= META_NAME;
        }
        if system.starts_with("JSArrayBufferData") {
            flags |= BUFFER_NAME;
        }
    }
    if name.starts_with('<') || matches!(name, "Text" | "Comment" | "CDATASection") {
        flags |= DOM_NAME;
    }
    if name == "(Global handles)" {
        flags |= GLOBAL_HANDLES;
    }
    if name == "Object" {
        flags |= OBJECT_NAME;
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::name_flags;

    #[test]
    fn names_get_the_flags_of_the_predicates_they_replace() {
        assert_eq!(name_flags("system / AllocationSite"), super::META_NAME);
        assert_eq!(name_flags("system / JSArrayBufferData"), super::BUFFER_NAME);
        assert_eq!(name_flags("<div id=\"x\">"), super::DOM_NAME);
        assert_eq!(name_flags("(Stack roots)"), super::META_ROOT_NAME);
        assert_eq!(name_flags("Object"), super::OBJECT_NAME);
        assert_eq!(name_flags("Objects"), 0);
        assert_eq!(name_flags("system / Context"), 0);
    }
}
