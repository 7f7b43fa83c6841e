//! Why a block's objects are there: for the classes with the most new
//! objects, the retainer paths that hold them, grouped by shape; the objects
//! that grew in place; and, when allocations were tracked, the stacks that
//! allocated them.

use std::collections::HashMap;

use crate::diff::{Changes, Comparison, ConstructorDelta, NewObjects};
use crate::retainers::{PathShapes, RetainerTree};
use crate::snapshot::{NodeIndex, Snapshot};
use crate::sourcemap::SourceMaps;

/// How `count` of a class's `total` new objects are kept alive: the shape
/// of their paths from a GC root (element indices and table slots `[i]`).
/// A class has one entry per group shown, the largest first.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RetainerPath {
    pub constructor: String,
    pub path: String,
    pub count: u64,
    pub total: u64,
}

/// An object alive before and after that grew in place (see
/// [`crate::diff::Grown`]), and how it is kept alive.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GrownObject {
    pub constructor: String,
    pub path: String,
    /// Its size at each snapshot: its own, with the arrays and backing
    /// stores it alone owns.
    pub before: u64,
    pub after: u64,
}

/// Paths of the new objects of the top classes, and of the objects that
/// grew in place.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeptAlive {
    pub retainers: Vec<RetainerPath>,
    pub grown: Vec<GrownObject>,
}

/// Where new objects of a class were allocated: the innermost frames of
/// one allocation stack, and how many of the new objects it made.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AllocationSite {
    pub constructor: String,
    pub count: u64,
    /// Innermost first: `function (file:line:column)`.
    pub stack: Vec<String>,
    /// The same frames, as fields (for the HTML report); not in the JSON.
    #[serde(skip_serializing)]
    pub frames: Vec<StackFrame>,
}

/// One frame of an allocation stack. V8 records the allocating function,
/// so `line` and `column` (1-based) point at the function's start.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct StackFrame {
    /// The function's name; `(anonymous)` when it has none.
    pub function: String,
    /// The script, as a path relative to the current directory when inside it.
    pub file: String,
    pub line: u32,
    pub column: u32,
}

impl StackFrame {
    /// `function (file:line:column)`, as in [`AllocationSite::stack`].
    pub fn describe(&self) -> String {
        format!(
            "{} ({}:{}:{})",
            self.function, self.file, self.line, self.column
        )
    }
}

/// Allocation sites kept per class.
const SITES_PER_CLASS: usize = 3;
/// Frames kept per site.
const FRAMES_PER_SITE: usize = 3;

/// Retainer paths are found for this many classes per block, largest first.
const RETAINER_CLASSES: usize = 5;
/// Grown objects kept per block, largest growth first.
const GROWN_OBJECTS: usize = 10;

/// How the new objects of each of the classes with the most new objects
/// are kept alive (every object's path is walked, and grouped by shape: see
/// [`PathShapes`]), and how the objects that grew in place are.
/// For a step, `held` marks the nodes the program holds across it (see
/// `diff::held_across`): paths start at the first of them.
pub fn retainer_paths(
    after: &Snapshot,
    comparison: &Comparison,
    changes: &Changes,
    held: Option<&[bool]>,
) -> KeptAlive {
    let top = top_grown(comparison);
    if top.is_empty() && changes.grown.is_empty() {
        return KeptAlive::default();
    }
    let tree = RetainerTree::build(after);
    let start = |n: NodeIndex| held.is_none_or(|h| h[n as usize]);
    let mut shapes = PathShapes::new(&tree, after, &start);
    let mut retainers = Vec::new();
    for row in top {
        let Some(nodes) = changes.new.get(&row.name) else {
            continue;
        };
        retainers.extend(shapes.groups(nodes).into_iter().map(|g| RetainerPath {
            constructor: row.name.clone(),
            path: crate::report::relative_url(&g.path),
            count: g.count,
            total: nodes.len() as u64,
        }));
    }
    let mut grown: Vec<GrownObject> = changes
        .grown
        .iter()
        .take(GROWN_OBJECTS)
        .filter_map(|g| {
            Some(GrownObject {
                constructor: g.class.clone(),
                path: crate::report::relative_url(&shapes.describe(g.node)?),
                before: g.before,
                after: g.after,
            })
        })
        .collect();
    // Equal growth reads in the order of the paths: ids move, paths do not.
    grown.sort_by(|a, b| {
        (b.after - b.before)
            .cmp(&(a.after - a.before))
            .then_with(|| a.path.cmp(&b.path))
            .then_with(|| a.constructor.cmp(&b.constructor))
    });
    KeptAlive { retainers, grown }
}

/// The stacks that allocated the new objects of the top classes.
pub fn allocation_sites(
    after: &Snapshot,
    comparison: &Comparison,
    new: &NewObjects,
    maps: &SourceMaps,
) -> Vec<AllocationSite> {
    if !after.has_allocation_traces() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for row in top_grown(comparison) {
        let Some(nodes) = new.get(&row.name) else {
            continue;
        };
        let mut counts: HashMap<Vec<StackFrame>, u64> = HashMap::new();
        let mut untracked = 0;
        for &n in nodes {
            let frames = after.allocation_stack(n);
            if frames.is_empty() {
                untracked += 1;
                continue;
            }
            let stack: Vec<StackFrame> = frames
                .into_iter()
                .filter(|f| !f.script.is_empty() && !f.script.contains("/harness-"))
                .take(FRAMES_PER_SITE)
                .map(|f| {
                    // TypeScript and JSX: the line the user wrote.
                    let (line, column) = maps
                        .original(&f.script, f.line, f.column)
                        .unwrap_or((f.line, f.column));
                    StackFrame {
                        function: if f.function.is_empty() {
                            "(anonymous)".to_owned()
                        } else {
                            f.function
                        },
                        file: crate::report::relative_url(&f.script),
                        line,
                        column,
                    }
                })
                .collect();
            if !stack.is_empty() {
                *counts.entry(stack).or_default() += 1;
            }
        }
        // Ties in the order of the stacks as text, as printed.
        let mut sites: Vec<AllocationSite> = counts
            .into_iter()
            .map(|(frames, count)| AllocationSite {
                constructor: row.name.clone(),
                count,
                stack: frames.iter().map(StackFrame::describe).collect(),
                frames,
            })
            .collect();
        sites.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.stack.cmp(&b.stack)));
        out.extend(sites.into_iter().take(SITES_PER_CLASS));
        // V8's allocation tracker follows objects by address and loses some
        // once the heap has been moved around; say so rather than let the
        // sites above look like the whole story.
        if untracked > 0 {
            out.push(AllocationSite {
                constructor: row.name.clone(),
                count: untracked,
                stack: Vec::new(),
                frames: Vec::new(),
            });
        }
    }
    out
}

/// How a site with no stack (objects V8 recorded none for) is shown.
pub const UNTRACKED: &str = "(no allocation stack recorded by V8)";

/// The classes with the most new objects, for explanations.
fn top_grown(comparison: &Comparison) -> Vec<&ConstructorDelta> {
    let mut grown: Vec<_> = comparison
        .constructors
        .iter()
        .filter(|r| r.new > 0)
        .collect();
    grown.sort_by(|a, b| b.new.cmp(&a.new).then(b.alloc_size.cmp(&a.alloc_size)));
    grown.truncate(RETAINER_CLASSES);
    grown
}
