//! Judging one measured block or step: its budget, its baseline and, for `repeat`
//! blocks, growth in every run; and the failure text that says why, with
//! retainer paths and allocation sites for the classes that grew.

use std::fmt::Write as _;
use std::path::Path;

use crate::baseline::{self, BlockBaseline};
use crate::budget::Budget;
use crate::config::Tolerance;
use crate::explain::{AllocationSite, GrownObject, RetainerPath};
use crate::measure::Block;
use crate::report::{self, BlockReport};
use crate::text;
use crate::units::format_bytes;

/// What a block is held against.
pub struct Standard<'a> {
    /// `file::test`, for the commands shown.
    pub full_name: &'a str,
    pub baseline_path: &'a Path,
    /// The recorded figures; `None` when there are none.
    pub recorded: Option<&'a BlockBaseline>,
    pub test_budget: Option<&'a Budget>,
    pub tolerance: Tolerance,
    /// `--update`: figures are recorded, not compared.
    pub update: bool,
    /// `--update` would record the test: none of its blocks is over a
    /// budget or leaking. Otherwise no command to record it is offered.
    pub recordable: bool,
}

/// Why no command to record a test is offered.
pub const NOT_RECORDABLE: &str =
    "--update does not record a test while one of its blocks or steps is over its budget or leaks";

/// The outcome for one block.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Why the block fails, one line each; empty when it passes.
    pub reasons: Vec<String>,
    /// The rest of the failure text: the diff, the budget, the table.
    pub details: String,
    /// Constructors that grew past baseline, budget, or in every run.
    pub grown: Vec<String>,
    /// The block failed because memory grew (not for want of a baseline):
    /// worth explaining with retainers and allocation sites.
    pub grew: bool,
    /// The figures a baseline would record (none when over budget or
    /// leaking: budgets are absolute).
    pub record: Option<BlockBaseline>,
    /// The figures that improved on the baseline, in words.
    pub improvement: Option<String>,
    /// The budget the block was held to, in words.
    pub budget: Option<String>,
}

impl Verdict {
    pub fn failed(&self) -> bool {
        !self.reasons.is_empty()
    }
}

pub fn judge(block: &Block, std: &Standard) -> Verdict {
    let mut v = Verdict::default();
    let budget = match block.budget.as_ref().map(Budget::from_json).transpose() {
        Ok(Some(b)) => Some(b),
        Ok(None) => std.test_budget.cloned(),
        Err(e) => {
            v.reasons.push(text::escape_controls(&e));
            return v;
        }
    };
    let violations = budget
        .as_ref()
        .map(|b| b.violations(&block.comparison, block.allocated_bytes))
        .unwrap_or_default();
    v.grown = budget
        .as_ref()
        .map(|b| b.broken_constructors(&block.comparison))
        .unwrap_or_default();
    let leaks = block
        .repetition
        .as_ref()
        .map(report::leak_lines)
        .unwrap_or_default();
    if let Some(r) = &block.repetition {
        v.grown.extend(r.leaking.iter().map(|g| g.name.clone()));
    }
    v.grew = !violations.is_empty() || !leaks.is_empty();
    v.reasons.extend(violations.iter().cloned());
    v.reasons.extend(leaks.iter().cloned());

    v.budget = budget.as_ref().map(Budget::describe);
    let actual = BlockBaseline::from_comparison(&block.comparison, block.allocated_bytes);
    if !v.grew {
        v.record = Some(actual.clone());
    }
    if !std.update {
        against_baseline(&mut v, block, std, &actual);
    }
    if let Some(b) = &budget
        && !violations.is_empty()
    {
        let _ = writeln!(
            v.details,
            "  (budget: {}; budgets are absolute: --update cannot accept a {} over budget)",
            b.describe(),
            block.kind.word()
        );
    }
    let _ = writeln!(v.details, "  this run:");
    indent(&mut v.details, report::table(&block.comparison).lines());
    v.grown.sort();
    v.grown.dedup();
    // Reasons name the test's classes: one line each, as shown.
    for r in &mut v.reasons {
        *r = text::escape_controls(r);
    }
    v.improvement = v.improvement.map(|i| text::escape_controls(&i));
    v
}

/// Hold the block's figures (`actual`) against its baseline, if it has one.
fn against_baseline(v: &mut Verdict, block: &Block, std: &Standard, actual: &BlockBaseline) {
    let Some(base) = std.recorded else {
        let record = if std.recordable {
            format!("; record it: {}", report::update_command(std.full_name))
        } else {
            format!(" ({NOT_RECORDABLE})")
        };
        v.reasons.push(format!(
            "no baseline for this {}{record}",
            block.kind.word()
        ));
        return;
    };
    let j = baseline::judge(
        base,
        &block.comparison,
        block.allocated_bytes,
        &std.tolerance,
    );
    if !j.regressions.is_empty() {
        v.grew = true;
        let _ = writeln!(
            v.details,
            "  baseline {}:",
            text::display_path(std.baseline_path)
        );
        indent(
            &mut v.details,
            report::text_diff(&base.render(), &actual.render()).lines(),
        );
        if std.recordable {
            let _ = writeln!(
                v.details,
                "  accept this run as the new baseline: {}",
                report::update_command(std.full_name)
            );
        }
    } else if !j.improvements.is_empty() && !v.grew {
        v.improvement = Some(j.improvements.join("; "));
    }
    v.reasons.extend(j.regressions);
    v.grown.extend(j.grown);
}

/// The whole failure text of a block: reasons, details, and why the grown
/// classes are alive (retainer paths) and where they came from
/// (`allocations`, from this run or a tracked re-run).
pub fn render(block: &Block, v: &Verdict, allocations: &[AllocationSite]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {}:",
        block.kind.word(),
        text::quote_name(&block.name)
    );
    for r in &v.reasons {
        let _ = writeln!(out, "  {r}");
    }
    out.push_str(&v.details);
    let why = Why {
        retainers: &block.retainers,
        grown: &block.grown,
        allocations,
    };
    explain(&mut out, &why, &v.grown, v.grew);
    if let Some(hint) = warmup_hint(block, v, allocations).or_else(|| first_use_hint(block, v)) {
        let _ = writeln!(out, "  {hint}");
    }
    text::escape_text(&out)
}

/// A hint to use `warmup` for a block that grew when every new object it
/// has a stack for was made by the runtime's own code, as on the first use
/// of one of its features; not for blocks that warm up already (`warmup`,
/// `repeat`) or steps, which cannot.
fn warmup_hint(block: &Block, v: &Verdict, allocations: &[AllocationSite]) -> Option<String> {
    if !v.grew || !unwarmed(block) {
        return None;
    }
    let runtime = match crate::explain::made_by_runtime(allocations)? {
        "deno" => "Deno",
        _ => "Node.js",
    };
    Some(format!(
        "hint: {runtime}'s own code made these objects, as it does on the first use of a feature \
         (a module it loads lazily, a cache):\n    if this is one-time setup, run the code once \
         before the first checkpoint: t.measure({}, {{ warmup: 1 }}, fn);\n    if their number \
         grows with the work the block does, they leak",
        text::quote_name(&block.name)
    ))
}

/// A plain block that warms up neither with `warmup` nor as `repeat`
/// does: what a warm-up hint is for (a step cannot warm up).
fn unwarmed(block: &Block) -> bool {
    block.kind == crate::steps::BlockKind::Block && block.warmup == 0 && block.runs.is_empty()
}

/// A hint for a failing block whose new rows include the objects a page
/// makes once, the first time it uses a DOM API: the interface's
/// prototype and the wrapper cache Blink keeps for it
/// (`HTMLDialogElement (prototype)`, `… (internal cache)`).
fn first_use_hint(block: &Block, v: &Verdict) -> Option<String> {
    if !v.failed() || !unwarmed(block) {
        return None;
    }
    let once: Vec<String> = block
        .comparison
        .constructors
        .iter()
        .filter(|r| r.new > 0)
        .filter(|r| r.name.ends_with(" (prototype)") || r.name.ends_with(" (internal cache)"))
        .map(|r| format!("`{}`", r.name))
        .take(3)
        .collect();
    if once.is_empty() {
        return None;
    }
    Some(format!(
        "hint: rows like {} are made once, the first time the page uses a DOM API, with the \
         closures and strings that come with it:\n    do the work once before the first \
         checkpoint: t.measure({}, {{ warmup: 1 }}, fn), or repeat: N to tell them from a leak",
        once.join(", "),
        text::quote_name(&block.name)
    ))
}

/// What a passing block did, for `--show-output`: its Comparison table,
/// allocated bytes, each repeated run, and how its top classes are kept
/// alive and where they were allocated.
pub fn summary(block: &BlockReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}:", block.title());
    indent(&mut out, report::table(&block.comparison()).lines());
    if let Some(bytes) = block.allocated_bytes {
        let _ = writeln!(
            out,
            "  allocated: {} (garbage included)",
            format_bytes(bytes)
        );
    }
    if let Some(r) = &block.repetition {
        let runs: Vec<String> = r
            .runs
            .iter()
            .map(|d| format!("{:+}", d.objects_delta))
            .collect();
        let _ = writeln!(out, "  live objects per repeated run: {}", runs.join(" "));
    }
    let why = Why {
        retainers: &block.retainers,
        grown: &block.grown,
        allocations: &block.allocations,
    };
    explain(&mut out, &why, &[], true);
    out
}

/// What explains a block: how its new objects are kept alive, which
/// objects grew in place, and where its objects were allocated.
struct Why<'a> {
    retainers: &'a [RetainerPath],
    grown: &'a [GrownObject],
    allocations: &'a [AllocationSite],
}

/// Retainer paths and allocation sites of the chosen classes (those in
/// `grown`, or the top ones when it is empty and `over` is set), and the
/// objects that grew in place when memory grew.
fn explain(out: &mut String, why: &Why, grown: &[String], over: bool) {
    let paths = report::retainer_lines(why.retainers, grown, over);
    if !paths.is_empty() {
        let _ = writeln!(
            out,
            "  kept alive by (paths from a GC root, grouped by shape; [i] is any index):"
        );
        indent(out, paths);
    }
    if over || !grown.is_empty() {
        let lines = report::grown_lines(why.grown);
        if !lines.is_empty() {
            let _ = writeln!(
                out,
                "  grew in place (alive before and after; with the backing stores it alone owns):"
            );
            indent(out, lines);
        }
    }
    let sites = report::allocation_lines(why.allocations, grown, over);
    if !sites.is_empty() {
        let _ = writeln!(
            out,
            "  allocated by (innermost project frame first; lines point at the function):"
        );
        indent(out, sites);
    }
}

/// Append `lines` under a heading of the block's text.
fn indent<S: AsRef<str>>(out: &mut String, lines: impl IntoIterator<Item = S>) {
    for l in lines {
        let _ = writeln!(out, "    {}", l.as_ref());
    }
}
