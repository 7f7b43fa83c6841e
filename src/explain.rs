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

/// Where new objects of a class were allocated: the frames of one
/// allocation stack (see [`site_frames`]), and how many of the new objects
/// it made.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AllocationSite {
    pub constructor: String,
    pub count: u64,
    /// Innermost first: `function (file:line:column)`, the runtime's own
    /// frames marked `(deno) function (ext:…)` or `(node) function (node:…)`.
    pub stack: Vec<String>,
    /// The same frames, as fields (`runtime` on the runtime's own).
    pub frames: Vec<StackFrame>,
}

impl AllocationSite {
    /// The site as a failure shows it, led by the first frame in the project;
    /// see [`site_text`].
    pub fn text(&self) -> String {
        site_text(&self.frames)
    }
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
    /// The runtime whose own code this is (`"deno"` for `ext:` scripts,
    /// `"node"` for `node:` ones); absent for the project's code and its
    /// packages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<&'static str>,
}

impl StackFrame {
    /// `function (file:line:column)`, as in [`AllocationSite::stack`];
    /// `(deno) function (ext:…)` for the runtime's own.
    pub fn describe(&self) -> String {
        format!(
            "{}{} ({}:{}:{})",
            self.runtime_prefix(),
            self.function,
            self.file,
            self.line,
            self.column
        )
    }

    /// The frame in a failure's text: the runtime's own frames by name
    /// only (`(deno) addEventListener`), as their place in a bundled
    /// internal script tells the reader nothing.
    pub fn short(&self) -> String {
        match self.runtime {
            Some(_) => format!("{}{}", self.runtime_prefix(), self.function),
            None => self.describe(),
        }
    }

    fn runtime_prefix(&self) -> String {
        self.runtime.map(|r| format!("({r}) ")).unwrap_or_default()
    }
}

/// The runtime a script belongs to, from its URL: Deno's own modules are
/// `ext:` URLs (its Node.js layer `ext:deno_node/…` too), Node's are
/// `node:` (`internal/…` in older versions).
pub fn runtime_of(script: &str) -> Option<&'static str> {
    if script.starts_with("ext:") {
        Some("deno")
    } else if script.starts_with("node:") || script.starts_with("internal/") {
        Some("node")
    } else {
        None
    }
}

/// Allocation sites kept per class.
const SITES_PER_CLASS: usize = 3;
/// Frames kept per site, from the first frame in the project outward.
const FRAMES_PER_SITE: usize = 3;

/// The frames a site keeps of a stack (innermost first, the harness's
/// left out): the first frame in the project and the two after it, and,
/// when the runtime allocated inside that frame, the runtime's innermost
/// frame and the one the project called (the frames between them are
/// dropped). A stack with no frame in the project keeps its innermost
/// three.
pub fn site_frames(frames: Vec<StackFrame>) -> Vec<StackFrame> {
    match frames.iter().position(|f| f.runtime.is_none()) {
        None => frames.into_iter().take(FRAMES_PER_SITE).collect(),
        Some(first) => {
            let mut out = Vec::with_capacity(FRAMES_PER_SITE + 2);
            if first > 0 {
                out.push(frames[0].clone());
            }
            if first > 1 {
                out.push(frames[first - 1].clone());
            }
            out.extend(frames.into_iter().skip(first).take(FRAMES_PER_SITE));
            out
        }
    }
}

/// A site's frames as a failure shows them, innermost first and joined by
/// `←`, led by the first frame in the project; the runtime's frames inside
/// it follow in `(via …)`:
/// `Foo ×10: addListener (lib.js:5:3) ← run (t.js:9:1) (via (deno) addEventListener)`.
pub fn site_text(frames: &[StackFrame]) -> String {
    let join = |frames: &[StackFrame]| {
        frames
            .iter()
            .map(StackFrame::short)
            .collect::<Vec<_>>()
            .join(" ← ")
    };
    match frames.iter().position(|f| f.runtime.is_none()) {
        _ if frames.is_empty() => UNTRACKED.to_owned(),
        Some(first) if first > 0 => format!(
            "{} (via {})",
            join(&frames[first..]),
            join(&frames[..first])
        ),
        _ => join(frames),
    }
}

/// The runtime whose own code made every one of a block's new objects that
/// has a stack (the innermost frame of each site is an `ext:` or `node:`
/// script), as its features do on first use; `None` when a site is the
/// project's, or no site has a stack.
pub fn made_by_runtime(sites: &[AllocationSite]) -> Option<&'static str> {
    let mut tracked = sites.iter().filter_map(|s| s.frames.first()).peekable();
    let runtime = tracked.peek()?.runtime;
    tracked
        .all(|f| f.runtime.is_some())
        .then_some(runtime)
        .flatten()
}

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
            path: relative_urls(&g.path),
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
                path: relative_urls(&shapes.describe(g.node)?),
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
            let all: Vec<StackFrame> = frames
                .into_iter()
                .filter(|f| {
                    !f.script.is_empty()
                        && !f.script.contains("/harness-")
                        && !f.script.contains("/__memcheck__/harness/")
                })
                .map(|f| {
                    let runtime = runtime_of(&f.script);
                    // TypeScript and JSX: the line the user wrote.
                    let (line, column) = runtime
                        .is_none()
                        .then(|| maps.original(&f.script, f.line, f.column))
                        .flatten()
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
                        runtime,
                    }
                })
                .collect();
            let stack = site_frames(all);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(function: &str, file: &str) -> StackFrame {
        StackFrame {
            function: function.into(),
            file: file.into(),
            line: 1,
            column: 2,
            runtime: runtime_of(file),
        }
    }

    #[test]
    fn runtime_scripts_are_told_by_their_url() {
        assert_eq!(runtime_of("ext:deno_web/02_event.js"), Some("deno"));
        assert_eq!(
            runtime_of("ext:deno_node/internal/streams/readable.js"),
            Some("deno")
        );
        assert_eq!(runtime_of("node:internal/streams/readable"), Some("node"));
        assert_eq!(runtime_of("internal/streams/readable.js"), Some("node"));
        assert_eq!(runtime_of("lib.js"), None);
        assert_eq!(runtime_of("node_modules/mitt/dist/mitt.mjs"), None);
        assert_eq!(runtime_of("/p/internal/x.js"), None);
    }

    /// `insert` (deno) ← `addEventListener` (deno) ← `listen` (lib.js) ←
    /// `run` (t.js) ← `main` (t.js) ← `start` (t.js) ← `boot` (t.js):
    /// the site keeps the runtime's innermost frame and the one the
    /// project called, then three frames from the project's first.
    #[test]
    fn a_site_leads_with_the_project_frame() {
        let stack = vec![
            frame("insert", "ext:deno_web/02_event.js"),
            frame("innerHelper", "ext:deno_web/02_event.js"),
            frame("addEventListener", "ext:deno_web/02_event.js"),
            frame("listen", "lib.js"),
            frame("run", "t.js"),
            frame("main", "t.js"),
            frame("start", "t.js"),
        ];
        let kept = site_frames(stack);
        let names: Vec<&str> = kept.iter().map(|f| f.function.as_str()).collect();
        assert_eq!(
            names,
            ["insert", "addEventListener", "listen", "run", "main"]
        );
        assert_eq!(
            site_text(&kept),
            "listen (lib.js:1:2) ← run (t.js:1:2) ← main (t.js:1:2) \
             (via (deno) insert ← (deno) addEventListener)"
        );
        assert_eq!(
            kept[0].describe(),
            "(deno) insert (ext:deno_web/02_event.js:1:2)"
        );
    }

    #[test]
    fn project_stacks_read_as_before_and_runtime_callers_are_short() {
        let kept = site_frames(vec![
            frame("onEvent", "app.js"),
            frame("dispatchEvent", "node:internal/event_target"),
            frame("main", "app.js"),
            frame("start", "app.js"),
        ]);
        assert_eq!(kept.len(), 3);
        assert_eq!(
            site_text(&kept),
            "onEvent (app.js:1:2) ← (node) dispatchEvent ← main (app.js:1:2)"
        );
        let only_runtime = site_frames(vec![
            frame("a", "ext:core/01_core.js"),
            frame("b", "ext:core/01_core.js"),
            frame("c", "ext:core/01_core.js"),
            frame("d", "ext:core/01_core.js"),
        ]);
        assert_eq!(site_text(&only_runtime), "(deno) a ← (deno) b ← (deno) c");
        assert_eq!(site_text(&[]), UNTRACKED);
    }

    #[test]
    fn objects_all_made_by_the_runtime_are_told_apart() {
        let site = |frames: Vec<StackFrame>| AllocationSite {
            constructor: "X".into(),
            count: 1,
            stack: Vec::new(),
            frames,
        };
        let runtime = site(vec![
            frame("stream", "ext:deno_web/09_file.js"),
            frame("t", "t.js"),
        ]);
        let project = site(vec![frame("format", "lib.js")]);
        let untracked = site(Vec::new());
        assert_eq!(
            made_by_runtime(&[runtime.clone(), untracked.clone()]),
            Some("deno")
        );
        assert_eq!(made_by_runtime(&[runtime, project]), None);
        assert_eq!(made_by_runtime(&[untracked]), None);
        assert_eq!(made_by_runtime(&[]), None);
    }
}
