//! Retainer paths: the shortest chain of references from a GC root to an
//! object, the way DevTools' Retainers view and memlab's leak traces show
//! it: `(global) .cache → Map (table)[i] → CacheEntry`.
//!
//! One breadth-first search from the snapshot's root gives every node its
//! parent; weak edges are not followed, and edges out of code, object
//! shapes and V8's hidden holders only in a second pass, for what program
//! state does not reach (an imported module's scope, which only its module
//! record holds on Node), and out of memcheck's own harness only in a third,
//! so paths run through program state where they can. An exported variable reads from its module
//! (`(module a.js) (export) → …`). A class's new objects
//! are grouped by the shape of their paths ([`PathShapes`]), so what is
//! shown is the path that holds most of them.
//!
//! Paths are said in words and read the same from run to run: element
//! indices and table slots are `[i]`, a WeakMap entry is `WeakMap key K →
//! value V`, a V8 object of its own is `(internal)`, and V8's snapshot ids
//! (`@12345`, which change whenever the code does) are never shown.

mod shapes;

use std::collections::VecDeque;

use crate::snapshot::{NodeIndex, Snapshot};

pub use shapes::{MAX_GROUPS, MIN_GROUP_PERCENT, PathGroup, PathShapes};

const UNREACHED: u32 = u32::MAX;
/// Paths longer than this show their first and last steps only.
const MAX_STEPS: usize = 10;
/// A dictionary-mode object with at least this many properties is used as
/// a map: its property names are keys, and read `.*` in paths.
const DICTIONARY_KEYS: usize = 16;

/// Whether paths through `n` are taken only where no other reaches: code,
/// shapes and V8's hidden holders, and its string table, which does not
/// keep a string alive (a property name read through it said only
/// `(string)`, not the object whose key it is).
fn read_badly(snap: &Snapshot, n: NodeIndex) -> bool {
    match snap.node_type_name(n) {
        "code" | "object shape" | "hidden" => true,
        "synthetic" => snap.name(n) == "(Internalized strings)",
        _ => false,
    }
}

/// The passes of the search: program state; then code, shapes, V8's
/// hidden holders and its string table, which read badly ([`read_badly`]):
/// they are taken only to what no other path reaches (a module's scope that
/// only its module record holds, as Node's imported modules are), from
/// where the first pass stopped; then memcheck's own harness
/// ([`is_harness_scope`]), which a path starts in only when nothing else
/// holds the object.
const PASSES: usize = 3;

/// The pass that follows the edges out of `n`.
fn pass_of(snap: &Snapshot, n: NodeIndex) -> usize {
    if read_badly(snap, n) {
        1
    } else if is_harness_scope(snap, n) {
        2
    } else {
        0
    }
}

/// Whether `n` is a scope of memcheck's harness: one of its modules', or a
/// function's within one. The harness keeps what it needs from the runtime
/// in its scopes (Node's guards hold `process.getBuiltinModule`, and
/// through it `Module._cache`, every CommonJS module's exports), so a path
/// through them would start in memcheck rather than where the program
/// holds the object.
fn is_harness_scope(snap: &Snapshot, n: NodeIndex) -> bool {
    let mut context = n;
    for _ in 0..MAX_SCOPE_DEPTH {
        if !is_context(snap, context) {
            return false;
        }
        if let Some(url) = context_module_url(snap, context) {
            return crate::runtime::is_harness_url(url);
        }
        let Some(outer) = edge_named(snap, context, "previous") else {
            return false;
        };
        context = outer;
    }
    false
}

/// How many scopes out [`is_harness_scope`] looks for a module's.
const MAX_SCOPE_DEPTH: usize = 8;

/// The BFS parents of every node of one snapshot.
pub struct RetainerTree {
    /// The edge that first reached each node, or `UNREACHED`.
    parent_edge: Vec<u32>,
    /// The node that edge leaves from.
    parent: Vec<u32>,
}

impl RetainerTree {
    pub fn build(snap: &Snapshot) -> RetainerTree {
        let count = snap.node_count();
        let mut parent_edge = vec![UNREACHED; count];
        let mut parent = vec![UNREACHED; count];
        if count == 0 {
            return RetainerTree {
                parent_edge,
                parent,
            };
        }
        let mut seen = vec![false; count];
        let mut queue = VecDeque::from([0 as NodeIndex]);
        seen[0] = true;
        // Nodes left for a later pass, by the pass that takes them.
        let mut deferred: [Vec<NodeIndex>; PASSES] = Default::default();
        let mut pass = 0;
        loop {
            let Some(n) = queue.pop_front() else {
                pass += 1;
                if pass == PASSES {
                    break;
                }
                queue.extend(deferred[pass].drain(..));
                continue;
            };
            let taken_in = if n == 0 { 0 } else { pass_of(snap, n) };
            if taken_in > pass {
                deferred[taken_in].push(n);
                continue;
            }
            for e in snap.edges(n) {
                if snap.edge_type_name(e) == "weak" {
                    continue;
                }
                let to = snap.edge_to(e);
                if !seen[to as usize] {
                    seen[to as usize] = true;
                    parent_edge[to as usize] = e as u32;
                    parent[to as usize] = n;
                    queue.push_back(to);
                }
            }
        }
        RetainerTree {
            parent_edge,
            parent,
        }
    }

    /// Distance from the root in edges, or `None` if unreachable.
    pub fn distance(&self, node: NodeIndex) -> Option<usize> {
        let mut d = 0;
        let mut n = node;
        while n != 0 {
            if self.parent[n as usize] == UNREACHED {
                return None;
            }
            n = self.parent[n as usize];
            d += 1;
        }
        Some(d)
    }

    /// The path to `node` as text, from the first program object on it.
    pub fn describe(&self, snap: &Snapshot, node: NodeIndex) -> Option<String> {
        self.describe_from(snap, node, |_| true)
    }

    /// The path to `node` as text, from the first program object on it that
    /// `start` accepts (a step's path starts where the program holds it
    /// across the step, past the running checkpoint's own objects).
    ///
    /// The text depends only on the classes, edge names and `start` of the
    /// nodes on the path (and on which module or async function a
    /// `Generator` runs), never on indices or ids: [`PathShapes`] relies on
    /// that to describe one object for all those of its shape.
    pub fn describe_from(
        &self,
        snap: &Snapshot,
        node: NodeIndex,
        start: impl Fn(NodeIndex) -> bool,
    ) -> Option<String> {
        let mut steps = Vec::new();
        let mut n = node;
        while n != 0 {
            let e = self.parent_edge[n as usize];
            if e == UNREACHED {
                return None;
            }
            steps.push((self.parent[n as usize], e as usize));
            n = self.parent[n as usize];
        }
        steps.reverse();
        // Roots and V8's own holders are not what users look for: start at
        // the first program object.
        let mut first = steps
            .iter()
            .position(|&(from, _)| !is_plumbing(snap, from) && start(from))
            .unwrap_or(steps.len());
        // A path into a suspended async function through the closure V8
        // made to resume it (`Function (extension) → Generator`) starts at
        // the function's frame.
        while let [(closure, _), (context, e), _, ..] = steps[first..]
            && snap.node_type_name(closure) == "closure"
            && snap.name(context).starts_with("system / Context")
            && snap.edge_name_str(e) == Some("extension")
        {
            first += 2;
        }
        // Each hop as "node edge"; a closure's or generator's context and an
        // internal backing array are folded into the hop that enters them.
        let mut hops: Vec<(String, String)> = Vec::new();
        // A module's exported variable, whatever held the module, reads
        // `(module a.js) (export)`.
        if let Some((at, hop)) = last_export(snap, &steps) {
            first = first.max(at);
            hops.push(hop);
        }
        let steps = &steps[first..];
        // The node after a WeakMap entry's edge is the entry's value.
        let mut value_next = false;
        for &(from, e) in steps {
            if is_blink_internal(snap, from) {
                continue;
            }
            let backing = matches!(snap.node_type_name(from), "array" | "hidden");
            let folds = backing || is_context(snap, from);
            let dictionary = snap.edge_type_name(e) == "property" && is_dictionary(snap, from);
            let (edge, entry) = match edge_text(snap, e, backing, dictionary) {
                EdgeText::Plain(text) => (text, false),
                // From the table: `WeakMap key K`; from the key itself:
                // `K (WeakMap key)`. Either way the next node is the value.
                EdgeText::Entry { key } if folds => (format!("key {key}"), true),
                EdgeText::Entry { .. } => ("(WeakMap key)".to_owned(), true),
            };
            let context_hop = hops.last().is_some_and(|last| last.1 == "(context)");
            let module = if folds && context_hop {
                module_context(snap, from)
            } else {
                None
            };
            match hops.last_mut() {
                // A module's top-level variables, through any of its
                // functions, read `(module a.js) ::v`: what holds the
                // function does not matter, the module keeps its scope.
                Some(_) if module.is_some() => {
                    hops.clear();
                    hops.extend(module.map(|m| (m, edge)));
                }
                // A closure's scope chain (`Context (previous) → Context`)
                // is still its context.
                Some(_) if context_hop && edge == "(previous)" && is_context(snap, from) => {}
                Some(last) if folds => {
                    // `X (context) → Context ::v` reads `X ::v`;
                    // `Map (table) → (array) [3]` reads `Map (table)[i]`;
                    // `WeakMap (table) → (array) entry` reads `WeakMap key K`.
                    if entry || context_hop {
                        last.1 = edge;
                    } else {
                        last.1.push_str(&edge);
                    }
                }
                _ => {
                    let mut name = self
                        .module_of(snap, from)
                        .or_else(|| async_frame(snap, from))
                        .unwrap_or_else(|| label(snap, from));
                    if std::mem::take(&mut value_next) {
                        name = format!("value {name}");
                    }
                    let edge = match edge.strip_prefix("(parameters_and_registers)") {
                        Some(rest) => format!("(locals){rest}"),
                        // The browser's own objects link by slot numbers
                        // that mean nothing to a reader.
                        None if snap.node_type_name(from) == "native" && edge.starts_with('[') => {
                            String::new()
                        }
                        None => edge,
                    };
                    hops.push((name, edge));
                }
            }
            value_next |= entry;
        }
        let mut parts: Vec<String> = hops
            .into_iter()
            .map(|(n, e)| format!("{n} {e}").trim_end().to_owned())
            .collect();
        if parts.len() > MAX_STEPS {
            parts.drain(MAX_STEPS / 2..parts.len() - MAX_STEPS / 2);
            parts.insert(MAX_STEPS / 2, "…".into());
        }
        let target = label(snap, node);
        parts.push(if value_next {
            format!("value {target}")
        } else {
            target
        });
        Some(strip_ids(&parts.join(" → ")))
    }

    /// `(module file:///…/a.js)` when `n` is the suspended body of an ES
    /// module: V8 keeps a module's top-level variables in the context of a
    /// `Generator` that its `SourceTextModule` holds. Users know that as the
    /// module's scope, not as a generator.
    fn module_of(&self, snap: &Snapshot, n: NodeIndex) -> Option<String> {
        let parent = *self.parent.get(n as usize)?;
        if snap.name(n) != "Generator"
            || parent == UNREACHED
            || snap.name(parent) != "system / SourceTextModule"
        {
            return None;
        }
        module_body(snap, n)
    }
}

/// The last exported variable of an ES module on a path, as the index of
/// the step from its value and the hop `(module URL) (export)`: V8 keeps an
/// export in a `Cell` that the module's table of exports holds, keyed by
/// the export's name (the entry before it).
fn last_export(snap: &Snapshot, steps: &[(NodeIndex, usize)]) -> Option<(usize, (String, String))> {
    (0..steps.len().saturating_sub(3)).rev().find_map(|j| {
        let [(module, _), (table, to_cell), (cell, value), ..] = steps[j..] else {
            return None;
        };
        if snap.name(module) != "system / SourceTextModule"
            || snap.name(cell) != "system / Cell"
            || snap.edge_name_str(value) != Some("value")
        {
            return None;
        }
        let index = |e: usize| -> Option<usize> {
            match snap.edge_name_str(e) {
                Some(name) => name.parse().ok(),
                None => usize::try_from(snap.edge_name[e]).ok(),
            }
        };
        // The parser keeps no string's text, so the name is said when the
        // snapshot gives it and `export` otherwise.
        let key_slot = index(to_cell)?.checked_sub(1)?;
        let name = snap
            .edges(table)
            .find(|&e| index(e) == Some(key_slot))
            .map(|e| snap.edge_to(e))
            .filter(|&k| snap.node_type_name(k).contains("string"))
            .map(|k| snap.name(k))
            .filter(|n| !n.is_empty())
            .map_or_else(|| "(export)".to_owned(), |n| format!(".{n}"));
        let url = snap
            .edges(module)
            .map(|e| snap.edge_to(e))
            .find(|&g| snap.name(g) == "Generator")
            .and_then(|g| module_body(snap, g))?;
        Some((j + 3, (url, name)))
    })
}

/// `(module URL)` for the `Generator` that runs an ES module's body.
fn module_body(snap: &Snapshot, generator: NodeIndex) -> Option<String> {
    module_url(snap, generator).map(|url| format!("(module {url})"))
}

/// The URL of the ES module whose body the `Generator` runs.
fn module_url(snap: &Snapshot, generator: NodeIndex) -> Option<&str> {
    let function = edge_named(snap, generator, "function")?;
    let shared = edge_named(snap, function, "shared")?;
    let script = edge_named(snap, shared, "script")?;
    // V8 15 (Deno) names it `system / Script / URL`; V8 13 (Node) `URL`.
    let name = snap.name(script);
    let url = name.strip_prefix("system / Script / ").unwrap_or(name);
    if url.is_empty() || url.starts_with("system") {
        return None;
    }
    Some(url)
}

/// Whether `n` is a scope: a function's or a module's variables.
fn is_context(snap: &Snapshot, n: NodeIndex) -> bool {
    snap.name(n).starts_with("system / Context")
}

/// Whether `n` is a global object: Deno names it `… [JSGlobalObject]`, Node
/// `global`, with its proxy among V8's internal edges (written last).
fn is_global(snap: &Snapshot, n: NodeIndex) -> bool {
    let name = snap.name(n);
    name.contains("[JSGlobalObject]")
        || name.contains("[JSGlobalProxy]")
        || snap.edges(n).rev().take(16).any(|e| {
            snap.edge_type_name(e) == "internal" && snap.edge_name_str(e) == Some("global_proxy")
        })
}

/// `(module URL)` when `context` is the scope of an ES module's top-level
/// variables: its `extension` is the module, whose body's `Generator` runs
/// in it. Every function of the module holds it too.
fn module_context(snap: &Snapshot, context: NodeIndex) -> Option<String> {
    context_module_url(snap, context).map(|url| format!("(module {url})"))
}

/// The URL of the ES module whose top-level scope `context` is (see
/// [`module_context`]).
fn context_module_url(snap: &Snapshot, context: NodeIndex) -> Option<&str> {
    if !is_context(snap, context) {
        return None;
    }
    let module = edge_named(snap, context, "extension")?;
    if snap.name(module) != "system / SourceTextModule" {
        return None;
    }
    snap.edges(module)
        .map(|e| snap.edge_to(e))
        .filter(|&g| snap.name(g) == "Generator")
        .find(|&g| edge_named(snap, g, "context") == Some(context))
        .and_then(|g| module_url(snap, g))
}

/// An edge as a path shows it.
#[derive(Debug, PartialEq)]
enum EdgeText {
    /// `.name`, `::name`, `[i]`, `(table)`…
    Plain(String),
    /// The edge V8 draws from a WeakMap's table (and from the key) to an
    /// entry's value; `key` is the key's class.
    Entry { key: String },
}

/// How edge `e` reads, leaving a `backing` array (folded into the hop
/// before it) or a `dictionary` (see [`is_dictionary`]). Element indices
/// and table slots are `[i]`: paths are grouped by shape, and an index
/// says which object of the group, not how it is held.
fn edge_text(snap: &Snapshot, e: usize, backing: bool, dictionary: bool) -> EdgeText {
    let name = || snap.edge_name_str(e).unwrap_or("");
    EdgeText::Plain(match snap.edge_type_name(e) {
        "context" => format!("::{}", name()),
        "element" => "[i]".to_owned(),
        "hidden" => format!("[{}]", snap.edge_name[e]),
        "property" if dictionary => ".*".to_owned(),
        "internal" => {
            let name = name();
            if let Some(key) = entry_key(name) {
                return EdgeText::Entry { key };
            }
            match (backing, is_index(name)) {
                (true, true) => "[i]".to_owned(),
                (true, false) => format!("[{name}]"),
                (false, _) => format!("({name})"),
            }
        }
        _ => snap.edge_label(e),
    })
}

fn is_index(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit())
}

/// The key's class, from V8's name for the edge to a WeakMap entry's value:
/// `[N / ]part of key (K @1) -> value (V @2) pair in WeakMap (table @3)`.
fn entry_key(name: &str) -> Option<String> {
    let rest = match name.split_once(" / ") {
        Some((index, rest)) if is_index(index) => rest,
        _ => name,
    };
    let rest = rest.strip_prefix("part of key (")?;
    let (pair, _) = rest.rsplit_once(" pair in WeakMap (")?;
    let (key, _) = pair.rsplit_once(") -> value (")?;
    let key = strip_ids(key);
    Some(match key.trim() {
        "" => "(anonymous)".to_owned(),
        k if k.starts_with("system") => "(internal)".to_owned(),
        k => k.split(" / ").next().unwrap_or(k).to_owned(),
    })
}

/// Whether `n` is an object used as a map: V8 keeps its properties in a
/// dictionary (`(object properties)`), and it has many of them. A global
/// object is a dictionary too, but its properties are names, not keys.
fn is_dictionary(snap: &Snapshot, n: NodeIndex) -> bool {
    if snap.node_type_name(n) != "object" || is_global(snap, n) {
        return false;
    }
    // V8 writes an object's internal edges after its properties.
    let edges = snap.edges(n);
    let dictionary = edges
        .clone()
        .rev()
        .take(16)
        .find(|&e| {
            snap.edge_type_name(e) == "internal" && snap.edge_name_str(e) == Some("properties")
        })
        .is_some_and(|e| {
            let to = snap.edge_to(e);
            snap.node_type_name(to) == "array" && snap.name(to) == "(object properties)"
        });
    dictionary
        && edges
            .filter(|&e| snap.edge_type_name(e) == "property")
            .take(DICTIONARY_KEYS)
            .count()
            == DICTIONARY_KEYS
}

/// `text` without V8's snapshot ids (`Meta @123`, `(table @9)`): they
/// change whenever the code does, and paths must read the same.
pub fn strip_ids(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let at_id = bytes[i] == b'@'
            && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
            && (i == 0 || matches!(bytes[i - 1], b' ' | b'('));
        if !at_id {
            i += 1;
            continue;
        }
        let mut end = i + 1;
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
        // `Meta @123` loses the space too.
        let cut = if i > 0 && bytes[i - 1] == b' ' {
            i - 1
        } else {
            i
        };
        out.push_str(&text[copied..cut]);
        copied = end;
        i = end;
    }
    out.push_str(&text[copied..]);
    out
}

/// Where `n`'s edge called `name` leads.
fn edge_named(snap: &Snapshot, n: NodeIndex, name: &str) -> Option<NodeIndex> {
    snap.edges(n)
        .find(|&e| snap.edge_name_str(e) == Some(name))
        .map(|e| snap.edge_to(e))
}

/// `(async frame of f)` (or `(async frame)` for an anonymous function) when
/// `n` is the suspended frame of an async function: a `Generator` with the
/// function it runs. Its variables are `(locals)[i]`.
fn async_frame(snap: &Snapshot, n: NodeIndex) -> Option<String> {
    if snap.name(n) != "Generator" || snap.node_type_name(n) != "object" {
        return None;
    }
    let function = edge_named(snap, n, "function")?;
    Some(match snap.name(function) {
        "" => "(async frame)".to_owned(),
        name => format!("(async frame of {name})"),
    })
}

/// The browser's own bookkeeping between a page object and what it holds
/// (Blink's heap vectors and wrappers): left out of paths, which read
/// `Window → EventListener → Function ::this → …`. Chromium 148 names
/// them all `InternalNode`; later versions give their C++ names.
fn is_blink_internal(snap: &Snapshot, n: NodeIndex) -> bool {
    snap.node_type_name(n) == "native" && {
        let name = snap.name(n);
        name.starts_with("blink::")
            || name.starts_with("cppgc::")
            || matches!(name, "V8EventListener" | "InternalNode")
    }
}

/// Synthetic roots and V8's internal holders at the start of a path.
fn is_plumbing(snap: &Snapshot, n: NodeIndex) -> bool {
    matches!(snap.node_type_name(n), "synthetic" | "hidden" | "array")
        || snap.name(n).starts_with("system")
}

/// How a node is named in a path: its class, and a closure's function name.
fn label(snap: &Snapshot, n: NodeIndex) -> String {
    let name = snap.name(n);
    match snap.node_type_name(n) {
        "closure" if name.is_empty() => "Function".into(),
        "closure" => format!("Function {name}"),
        "object" | "native" if name.starts_with("system / Context") => "(context)".into(),
        "object" | "native" if is_global(snap, n) => "(global)".into(),
        "native" if snap.is_detached(n) => format!("Detached {name}"),
        // V8's own objects (`system / WeakArrayList`…) hold things only on
        // the program's behalf.
        "object" | "native" if name.starts_with("system") => "(internal)".into(),
        "object" | "native" => name.split(" / ").next().unwrap_or(name).trim().to_owned(),
        "synthetic" => name.to_owned(),
        "string" | "concatenated string" | "sliced string" => "(string)".into(),
        other => format!("({other})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::testing::snapshot;

    /// ```text
    /// root ─▶ (GC roots) ─▶ Window [JSGlobalObject] ─.cache─▶ Map ─(table)─▶ (array) ─[3]─▶ Entry
    ///                              └────weak──────────────────────────────────────────────▶ Entry
    /// root ─▶ code ─▶ Lonely   (only code holds it: reached in a second pass)
    /// ```
    #[test]
    fn shortest_path_skips_weak_edges_and_folds_backing_arrays() {
        let s = snapshot(&[
            (
                "synthetic",
                "",
                1,
                0,
                &[("element", "1", 1), ("element", "2", 6)],
            ),
            ("synthetic", "(GC roots)", 3, 0, &[("element", "1", 2)]),
            (
                "object",
                "Window [JSGlobalObject]",
                5,
                32,
                &[("property", "cache", 3), ("weak", "w", 5)],
            ),
            ("object", "Map", 7, 32, &[("internal", "table", 4)]),
            ("array", "", 9, 64, &[("internal", "3", 5)]),
            ("object", "Entry", 11, 16, &[]),
            ("code", "f", 13, 16, &[("internal", "x", 7)]),
            ("object", "Lonely", 15, 16, &[]),
        ]);
        let tree = RetainerTree::build(&s);
        assert_eq!(tree.distance(5), Some(5));
        assert_eq!(
            tree.describe(&s, 5).unwrap(),
            "(global) .cache → Map (table)[i] → Entry",
            "a table slot reads [i]: it says which entry, not how it is held"
        );
        // Only code reaches Lonely: a second pass finds that path.
        assert_eq!(tree.distance(7), Some(2));
    }

    /// ```text
    /// root ─▶ SourceTextModule ─▶ Generator ─(context)─▶ Context ─::cache─▶ Map
    ///                             └─function─▶ closure ─shared─▶ SFI ─script─▶ Script a.js
    /// ```
    #[test]
    fn module_scope_is_named_after_its_file() {
        let s = snapshot(&[
            ("synthetic", "", 1, 0, &[("element", "1", 1)]),
            (
                "native",
                "system / SourceTextModule",
                3,
                64,
                &[("hidden", "5", 2)],
            ),
            (
                "object",
                "Generator",
                5,
                40,
                &[("internal", "function", 3), ("internal", "context", 6)],
            ),
            ("closure", "", 7, 32, &[("internal", "shared", 4)]),
            (
                "code",
                "system / SharedFunctionInfo",
                9,
                32,
                &[("internal", "script", 5)],
            ),
            ("code", "system / Script / file:///p/a.js", 11, 32, &[]),
            (
                "object",
                "system / Context / scope @9",
                13,
                32,
                &[("context", "cache", 7)],
            ),
            ("object", "Map", 15, 32, &[]),
        ]);
        let tree = RetainerTree::build(&s);
        assert_eq!(
            tree.describe(&s, 7).unwrap(),
            "(module file:///p/a.js) ::cache → Map"
        );
    }

    /// Node's `Module` is held by the harness's guards and by Node's own
    /// function, as near the root: the path starts at Node's.
    ///
    /// ```text
    /// root ─▶ (GC roots) ─▶ closure guarded ─(context)─▶ Context of node-guards.js ─::getBuiltin─▶ Module
    ///                   └─▶ closure normalize ─(context)─▶ Context ─::$Module─▶ Module ─._cache─▶ Cache
    ///                                                                  Cache ─.only─▶ Kept
    /// Context of node-guards.js ─::kept─▶ Kept2   (only the harness holds it)
    /// ```
    #[test]
    fn a_path_starts_in_the_harness_only_when_nothing_else_holds_it() {
        let guards = "system / Script / file:///c/harness-0123456789abcdef/node-guards.js";
        let s = snapshot(&[
            ("synthetic", "", 1, 0, &[("element", "1", 1)]),
            (
                "synthetic",
                "(GC roots)",
                3,
                0,
                &[("element", "1", 2), ("element", "2", 8)],
            ),
            ("closure", "guarded", 5, 32, &[("internal", "context", 3)]),
            (
                "object",
                "system / Context",
                7,
                32,
                &[
                    ("internal", "extension", 4),
                    ("context", "getBuiltin", 10),
                    ("context", "kept", 12),
                ],
            ),
            (
                "native",
                "system / SourceTextModule",
                9,
                64,
                &[("hidden", "5", 5)],
            ),
            (
                "object",
                "Generator",
                11,
                40,
                &[("internal", "function", 6), ("internal", "context", 3)],
            ),
            ("closure", "", 13, 32, &[("internal", "shared", 7)]),
            (
                "code",
                "system / SharedFunctionInfo",
                15,
                32,
                &[("internal", "script", 13)],
            ),
            (
                "closure",
                "normalize",
                17,
                32,
                &[("internal", "context", 9)],
            ),
            (
                "object",
                "system / Context",
                19,
                32,
                &[("context", "$Module", 10)],
            ),
            ("closure", "Module", 21, 32, &[("property", "_cache", 11)]),
            ("object", "Cache", 23, 32, &[]),
            ("object", "Kept", 25, 32, &[]),
            ("code", guards, 27, 32, &[]),
        ]);
        let tree = RetainerTree::build(&s);
        assert_eq!(
            tree.describe(&s, 11).unwrap(),
            "Function normalize ::$Module → Function Module ._cache → Cache"
        );
        assert_eq!(
            tree.describe(&s, 12).unwrap(),
            "(module file:///c/harness-0123456789abcdef/node-guards.js) ::kept → Kept",
            "what only the harness holds is still reached"
        );
    }

    /// An async function suspended in an `await`, reached through the
    /// closure V8 made to resume it:
    ///
    /// ```text
    /// root ─▶ (Stack roots) ─▶ closure "" ─(context)─▶ Context ─(extension)─▶ Generator
    ///   Generator ─(function)─▶ closure "walk"
    ///   Generator ─(parameters_and_registers)─▶ (array) ─[1]─▶ TodoList
    /// ```
    #[test]
    fn an_async_frame_is_named_and_entered_at_the_frame() {
        let s = snapshot(&[
            ("synthetic", "", 1, 0, &[("element", "1", 1)]),
            ("synthetic", "(Stack roots)", 3, 0, &[("internal", "0", 2)]),
            ("closure", "", 5, 32, &[("internal", "context", 3)]),
            (
                "object",
                "system / Context",
                7,
                32,
                &[("internal", "extension", 4)],
            ),
            (
                "object",
                "Generator",
                9,
                40,
                &[
                    ("internal", "function", 5),
                    ("internal", "parameters_and_registers", 6),
                ],
            ),
            ("closure", "walk", 11, 32, &[]),
            ("array", "", 13, 16, &[("hidden", "1", 7)]),
            ("object", "TodoList", 15, 32, &[]),
        ]);
        let tree = RetainerTree::build(&s);
        assert_eq!(
            tree.describe(&s, 7).unwrap(),
            "(async frame of walk) (locals)[1] → TodoList"
        );
    }

    /// A WeakMap entry: V8 draws an edge to the value from the table and
    /// from the key, named with snapshot ids. Either way reads in words.
    ///
    /// ```text
    /// root ─▶ (global) ─.meta─▶ WeakMap ─(table)─▶ (array) ─"3 / part of key…"─▶ Map
    ///            └─.keys─▶ Array ─[0]─▶ Meta ─"1 / part of key…"─▶ Map (the same)
    ///                                          Map ─(table)─▶ (array) ─[0]─▶ Item
    /// ```
    #[test]
    fn weak_map_entries_read_in_words_without_ids() {
        const ENTRY: &str =
            "part of key (Meta @70281) -> value (Map @190353) pair in WeakMap (table @80149)";
        let from_table = format!("3 / {ENTRY}");
        let from_key = format!("1 / {ENTRY}");
        let nodes = |first: &str| -> Vec<(String, &str, usize)> {
            if first == "table" {
                vec![
                    ("property".into(), "meta", 2),
                    ("property".into(), "keys", 4),
                ]
            } else {
                vec![
                    ("property".into(), "keys", 4),
                    ("property".into(), "meta", 2),
                ]
            }
        };
        for (first, expected) in [
            (
                "table",
                "(global) .meta → WeakMap key Meta → value Map (table)[i] → Item",
            ),
            (
                "key",
                "(global) .keys → Array [i] → Meta (WeakMap key) → value Map (table)[i] → Item",
            ),
        ] {
            let global: Vec<(String, &str, usize)> = nodes(first);
            let global: Vec<(&str, &str, usize)> = global
                .iter()
                .map(|(t, n, to)| (t.as_str(), *n, *to))
                .collect();
            let s = snapshot(&[
                ("synthetic", "", 1, 0, &[("element", "1", 1)]),
                ("object", "Window [JSGlobalObject]", 3, 32, &global),
                ("object", "WeakMap", 5, 32, &[("internal", "table", 3)]),
                (
                    "array",
                    "",
                    7,
                    64,
                    &[("weak", "2", 5), ("internal", from_table.as_str(), 6)],
                ),
                ("object", "Array", 9, 16, &[("element", "0", 5)]),
                (
                    "object",
                    "Meta",
                    11,
                    16,
                    &[("internal", from_key.as_str(), 6)],
                ),
                ("object", "Map", 13, 32, &[("internal", "table", 7)]),
                ("array", "", 15, 64, &[("internal", "0", 8)]),
                ("object", "Item", 17, 16, &[]),
            ]);
            let tree = RetainerTree::build(&s);
            let path = tree.describe(&s, 8).unwrap();
            assert_eq!(path, expected);
            assert!(!path.contains('@'), "{path}");
        }
    }

    #[test]
    fn snapshot_ids_are_stripped_everywhere() {
        assert_eq!(
            strip_ids(
                "Object (1 / part of key (Object @70281) -> value (Map @190353) pair in WeakMap (table @80149))"
            ),
            "Object (1 / part of key (Object) -> value (Map) pair in WeakMap (table))"
        );
        assert_eq!(strip_ids("@12 x"), " x");
        assert_eq!(strip_ids("(@7)"), "()");
        assert_eq!(
            strip_ids("a@1 .user@example → é @3"),
            "a@1 .user@example → é"
        );
        assert_eq!(
            entry_key("part of key (Meta @1) -> value (Map @2) pair in WeakMap (table @3)")
                .as_deref(),
            Some("Meta")
        );
        assert_eq!(entry_key("12 / part of key (system / Context @1) -> value (Map @2) pair in WeakMap (table @3)").as_deref(), Some("(internal)"));
        assert_eq!(entry_key("table"), None);
    }

    /// A V8 object of its own in the middle of a path reads `(internal)`.
    ///
    /// ```text
    /// root ─▶ (global) ─.registry─▶ Registry ─(list)─▶ system / WeakArrayList ─[0]─▶ Item
    /// ```
    #[test]
    fn v8_holders_read_internal() {
        let s = snapshot(&[
            ("synthetic", "", 1, 0, &[("element", "1", 1)]),
            (
                "object",
                "Window [JSGlobalObject]",
                3,
                32,
                &[("property", "registry", 2)],
            ),
            ("object", "Registry", 5, 32, &[("internal", "list", 3)]),
            (
                "object",
                "system / WeakArrayList @5",
                7,
                32,
                &[("element", "0", 4)],
            ),
            ("object", "Item", 9, 16, &[]),
        ]);
        let tree = RetainerTree::build(&s);
        assert_eq!(
            tree.describe(&s, 4).unwrap(),
            "(global) .registry → Registry (list) → (internal) [i] → Item"
        );
    }

    /// Blink's bookkeeping between the window and a listener is left out,
    /// whether the browser names it (`blink::…`) or not (`InternalNode`).
    #[test]
    fn blink_internals_are_left_out_of_a_path() {
        let s = snapshot(&[
            ("synthetic", "", 1, 0, &[("element", "1", 1)]),
            ("native", "Window", 3, 32, &[("element", "1", 2)]),
            ("native", "InternalNode", 5, 0, &[("element", "1", 3)]),
            ("native", "blink::HeapVector", 7, 0, &[("element", "2", 4)]),
            ("native", "EventListener", 9, 32, &[("element", "1", 5)]),
            ("closure", "", 11, 32, &[("context", "this", 6)]),
            ("object", "Dialog", 13, 32, &[]),
        ]);
        let tree = RetainerTree::build(&s);
        assert_eq!(
            tree.describe(&s, 6).unwrap(),
            "Window → EventListener → Function ::this → Dialog"
        );
    }

    /// A module's top-level variable reached through one of the module's
    /// functions, however it is held and through its scope chain, reads as
    /// the module's, as it does through the module's body; another scope
    /// on the chain reads as the function's. (Node names the script by its
    /// URL alone.)
    ///
    /// ```text
    /// root ─▶ Object ─.fn─▶ closure log ─(context)─▶ Context #4 ─(previous)─▶ Context #2
    ///   Context #2 ─::loggers─▶ Array;  Context #2 ─(extension)─▶ SourceTextModule
    ///   SourceTextModule ─▶ Generator ─(context)─▶ Context #2
    ///   Generator ─function─▶ closure ─shared─▶ SFI ─script─▶ file:///p/log.js
    /// root ─▶ closure f ─(context)─▶ Context #10 ─(previous)─▶ Context #11 ─::x─▶ Item
    /// ```
    #[test]
    fn a_module_scope_reached_through_a_function_is_the_modules() {
        let s = snapshot(&[
            (
                "synthetic",
                "",
                1,
                0,
                &[("element", "1", 1), ("element", "2", 12)],
            ),
            ("object", "Object", 3, 32, &[("property", "fn", 3)]),
            (
                "object",
                "system / Context",
                5,
                32,
                &[("context", "loggers", 4), ("internal", "extension", 5)],
            ),
            ("closure", "log", 7, 32, &[("internal", "context", 11)]),
            ("object", "Array", 9, 16, &[]),
            (
                "hidden",
                "system / SourceTextModule",
                11,
                64,
                &[("hidden", "4", 6)],
            ),
            (
                "object",
                "Generator",
                13,
                40,
                &[("internal", "function", 7), ("internal", "context", 2)],
            ),
            ("closure", "", 15, 32, &[("internal", "shared", 8)]),
            (
                "code",
                "(shared function info)",
                17,
                32,
                &[("internal", "script", 9)],
            ),
            ("code", "file:///p/log.js", 19, 32, &[]),
            ("object", "Item", 21, 16, &[]),
            (
                "object",
                "system / Context",
                23,
                32,
                &[("internal", "previous", 2)],
            ),
            ("closure", "f", 25, 32, &[("internal", "context", 13)]),
            (
                "object",
                "system / Context",
                27,
                32,
                &[("internal", "previous", 14)],
            ),
            (
                "object",
                "system / Context",
                29,
                32,
                &[("context", "x", 10)],
            ),
        ]);
        let tree = RetainerTree::build(&s);
        assert_eq!(
            tree.describe(&s, 4).unwrap(),
            "(module file:///p/log.js) ::loggers → Array"
        );
        assert_eq!(tree.describe(&s, 10).unwrap(), "Function f ::x → Item");
    }

    /// Node's global object is named `global`: it reads `(global)` as
    /// Deno's does, and its properties are names, not keys, though V8
    /// keeps them in a dictionary.
    ///
    /// ```text
    /// root ─▶ global ─.a….p, .implicitKeep─▶ Array ─[0]─▶ Session
    ///           └─(global_proxy)─▶ global;  └─(properties)─▶ (object properties)
    /// ```
    #[test]
    fn a_global_object_reads_global_and_keeps_its_names() {
        let mut edges: Vec<(&str, &str, usize)> = "abcdefghijklmnop"
            .split("")
            .filter(|n| !n.is_empty())
            .map(|n| ("property", n, 4))
            .collect();
        edges.push(("property", "implicitKeep", 2));
        edges.push(("internal", "global_proxy", 5));
        edges.push(("internal", "properties", 6));
        let s = snapshot(&[
            ("synthetic", "", 1, 0, &[("element", "1", 1)]),
            ("object", "global", 3, 32, &edges),
            ("object", "Array", 5, 16, &[("element", "0", 3)]),
            ("object", "Session", 7, 16, &[]),
            ("object", "Object", 9, 16, &[]),
            ("object", "global", 11, 16, &[]),
            ("array", "(object properties)", 13, 512, &[]),
        ]);
        let tree = RetainerTree::build(&s);
        assert_eq!(
            tree.describe(&s, 3).unwrap(),
            "(global) .implicitKeep → Array [i] → Session"
        );
    }
}
