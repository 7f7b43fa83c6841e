//! Why a block's objects are there: for the classes with the most new
//! objects, a shortest retainer path to one of them and, when allocations
//! were tracked, the stacks that allocated them.

use std::collections::HashMap;

use crate::diff::{Comparison, ConstructorDelta, NewObjects};
use crate::retainers::RetainerTree;
use crate::snapshot::{NodeIndex, Snapshot};
use crate::sourcemap::SourceMaps;

/// How one new object of a class is kept alive.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RetainerPath {
    pub constructor: String,
    pub path: String,
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
/// Candidates looked at per class when choosing the closest sample.
const RETAINER_SAMPLES: usize = 64;

/// Paths to the closest new object of each of the classes with the most
/// new objects.
/// For a step, `held` marks the nodes the program holds across it (see
/// `diff::held_across`): paths start at the first of them.
pub fn retainer_paths(
    after: &Snapshot,
    comparison: &Comparison,
    new: &NewObjects,
    held: Option<&[bool]>,
) -> Vec<RetainerPath> {
    let grown = top_grown(comparison);
    if grown.is_empty() {
        return Vec::new();
    }
    let tree = RetainerTree::build(after);
    grown
        .into_iter()
        .filter_map(|row| {
            let nodes = new.get(&row.name)?;
            let start = |n: NodeIndex| held.is_none_or(|h| h[n as usize]);
            // The closest; among the closest, the path that reads first: the
            // sample's id (heap order) moves from run to run, its path not.
            let distances: Vec<(usize, NodeIndex)> = nodes
                .iter()
                .filter_map(|&n| tree.distance(n).map(|d| (d, n)))
                .collect();
            let closest = distances.iter().map(|&(d, _)| d).min()?;
            let path = distances
                .iter()
                .filter(|&&(d, _)| d == closest)
                .take(RETAINER_SAMPLES)
                .filter_map(|&(_, n)| tree.describe_from(after, n, start))
                .min()?;
            Some(RetainerPath {
                constructor: row.name.clone(),
                path: relative_urls(&path),
            })
        })
        .collect()
}

/// Whether a class is one of a page's DOM node classes (`<div>`,
/// `Detached <li>`, `Text`), which V8 records no allocation stack for.
fn is_dom_class(name: &str) -> bool {
    let name = name.strip_prefix("Detached ").unwrap_or(name);
    name.starts_with('<') || matches!(name, "Text" | "Comment" | "CDATASection")
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
        // A page's DOM nodes are the browser's, made without a JS stack.
        if is_dom_class(&row.name) {
            continue;
        }
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
                .filter(|f| {
                    !f.script.is_empty()
                        && !f.script.contains("/harness-")
                        && !f.script.contains("/__memcheck__/harness/")
                })
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
                        file: relative_urls(&f.script),
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

/// Script URLs in `text` (a URL, a retainer path, a message) as users read
/// them: without the origin a page's files are served from (the project
/// root), `file://`, or the query that makes each Deno job's main module URL
/// unique (see [`crate::runtime::deno::JOB_QUERY`]), and relative to the
/// current directory.
pub fn relative_urls(text: &str) -> String {
    let text = text.replace("http://memcheck.localhost/", "");
    crate::text::relative_urls(&text, crate::runtime::deno::JOB_QUERY)
}
