//! Retainer paths: the shortest chain of references from a GC root to an
//! object, the way DevTools' Retainers view and memlab's leak traces show
//! it: `Window .cache → Map (internal) table → CacheEntry`.
//!
//! One breadth-first search from the snapshot's root gives every node its
//! parent; weak edges and edges out of code and object shapes are not
//! followed, so paths run through program state only.

use std::collections::VecDeque;

use crate::snapshot::{NodeIndex, Snapshot};

const UNREACHED: u32 = u32::MAX;
/// Paths longer than this show their first and last steps only.
const MAX_STEPS: usize = 10;

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
        while let Some(n) = queue.pop_front() {
            if matches!(snap.node_type_name(n), "code" | "object shape" | "hidden") && n != 0 {
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
        let steps = &steps[first..];

        // Each hop as "node edge"; a closure's or generator's context and an
        // internal backing array are folded into the hop that enters them.
        let mut hops: Vec<(String, String)> = Vec::new();
        for &(from, e) in steps {
            if is_blink_internal(snap, from) {
                continue;
            }
            let backing = matches!(snap.node_type_name(from), "array" | "hidden");
            let edge = match snap.edge_type_name(e) {
                "context" => format!("::{}", snap.edge_name_str(e).unwrap_or("")),
                "element" | "hidden" => format!("[{}]", snap.edge_name[e]),
                "internal" if backing => format!("[{}]", snap.edge_name_str(e).unwrap_or("")),
                _ => snap.edge_label(e),
            };
            let folds = backing || snap.name(from).starts_with("system / Context");
            match hops.last_mut() {
                Some(last) if folds => {
                    // `X (context) → Context ::v` reads `X ::v`;
                    // `Map (table) → (array) [3]` reads `Map (table)[3]`.
                    if last.1 == "(context)" {
                        last.1 = edge;
                    } else {
                        last.1.push_str(&edge);
                    }
                }
                _ => {
                    let name = self
                        .module_of(snap, from)
                        .or_else(|| async_frame(snap, from))
                        .unwrap_or_else(|| label(snap, from));
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
        }
        let mut parts: Vec<String> = hops
            .into_iter()
            .map(|(n, e)| format!("{n} {e}").trim_end().to_owned())
            .collect();
        if parts.len() > MAX_STEPS {
            parts.drain(MAX_STEPS / 2..parts.len() - MAX_STEPS / 2);
            parts.insert(MAX_STEPS / 2, "…".into());
        }
        parts.push(label(snap, node));
        Some(parts.join(" → "))
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
        let function = edge_named(snap, n, "function")?;
        let shared = edge_named(snap, function, "shared")?;
        let script = edge_named(snap, shared, "script")?;
        let url = snap.name(script).strip_prefix("system / Script / ")?;
        Some(format!("(module {url})"))
    }
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
/// `Window → EventListener → Function ::this → …`.
fn is_blink_internal(snap: &Snapshot, n: NodeIndex) -> bool {
    snap.node_type_name(n) == "native" && {
        let name = snap.name(n);
        name.starts_with("blink::") || name.starts_with("cppgc::") || name == "V8EventListener"
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
        "object" | "native"
            if name.contains("[JSGlobalObject]") || name.contains("[JSGlobalProxy]") =>
        {
            "(global)".into()
        }
        "native" if snap.is_detached(n) => format!("Detached {name}"),
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
    /// root ─▶ code ─▶ Lonely   (only code holds it: unreachable for paths)
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
            "(global) .cache → Map (table)[3] → Entry"
        );
        assert_eq!(tree.distance(7), None);
        assert_eq!(tree.describe(&s, 7), None);
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
}
