//! Why a block's objects are there: for the classes with the most new
//! objects, a shortest retainer path to one of them and, when allocations
//! were tracked, the stacks that allocated them.

use std::collections::HashMap;

use crate::diff::{Comparison, ConstructorDelta, NewObjects};
use crate::retainers::RetainerTree;
use crate::snapshot::Snapshot;

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
pub fn retainer_paths(
    after: &Snapshot,
    comparison: &Comparison,
    new: &NewObjects,
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
            let sample = nodes
                .iter()
                .take(RETAINER_SAMPLES)
                .filter_map(|&n| tree.distance(n).map(|d| (d, n)))
                .min()?
                .1;
            Some(RetainerPath {
                constructor: row.name.clone(),
                path: crate::report::relative_url(&tree.describe(after, sample)?),
            })
        })
        .collect()
}

/// The stacks that allocated the new objects of the top classes.
pub fn allocation_sites(
    after: &Snapshot,
    comparison: &Comparison,
    new: &NewObjects,
) -> Vec<AllocationSite> {
    if !after.has_allocation_traces() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for row in top_grown(comparison) {
        let Some(nodes) = new.get(&row.name) else {
            continue;
        };
        let mut counts: HashMap<Vec<String>, u64> = HashMap::new();
        let mut untracked = 0;
        for &n in nodes {
            let frames = after.allocation_stack(n);
            if frames.is_empty() {
                untracked += 1;
                continue;
            }
            let stack: Vec<String> = frames
                .into_iter()
                .filter(|f| !f.script.is_empty() && !f.script.contains("/harness-"))
                .take(FRAMES_PER_SITE)
                .map(|f| {
                    let name = if f.function.is_empty() {
                        "(anonymous)"
                    } else {
                        f.function.as_str()
                    };
                    format!(
                        "{name} ({}:{}:{})",
                        crate::report::relative_url(&f.script),
                        f.line,
                        f.column
                    )
                })
                .collect();
            if !stack.is_empty() {
                *counts.entry(stack).or_default() += 1;
            }
        }
        let mut sites: Vec<_> = counts.into_iter().collect();
        sites.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out.extend(
            sites
                .into_iter()
                .take(SITES_PER_CLASS)
                .map(|(stack, count)| AllocationSite {
                    constructor: row.name.clone(),
                    count,
                    stack,
                }),
        );
        // V8's allocation tracker follows objects by address and loses some
        // once the heap has been moved around; say so rather than let the
        // sites above look like the whole story.
        if untracked > 0 {
            out.push(AllocationSite {
                constructor: row.name.clone(),
                count: untracked,
                stack: Vec::new(),
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
