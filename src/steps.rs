//! Steps: the chain of a test's `t.checkpoint` calls. The first checkpoint
//! only opens the chain; each later one closes a step named by its label,
//! measured from the checkpoint before it: a block whose "before" is the
//! previous checkpoint's snapshot (taken once, used by the step it closes
//! and by the step it opens).
//!
//! A `t.measure` block between two checkpoints is measured on its own, and
//! its objects count in the step around it too: the chain runs from
//! checkpoint to checkpoint whatever happens between them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::measure::{Block, Incoming, Parsed, explained};
use crate::sourcemap::SourceMaps;

/// What a measured block is: a `t.measure` block (or a test's whole body),
/// a step between two checkpoints, or one run of a `repeat` block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockKind {
    #[default]
    Block,
    Step,
    Run,
}

impl BlockKind {
    /// The word for it in messages: `block`, `step` or `run`.
    pub fn word(self) -> &'static str {
        match self {
            BlockKind::Block => "block",
            BlockKind::Step => "step",
            BlockKind::Run => "run",
        }
    }
}

/// A checkpoint announced, waiting for its snapshot.
#[derive(Debug)]
struct Announced {
    name: String,
    budget: Option<serde_json::Value>,
    line: Option<u32>,
}

/// The previous checkpoint's snapshot: still arriving, or parsed.
enum Snap {
    Arriving(Incoming),
    Parsed(Box<Parsed>),
}

/// The previous checkpoint: its name and line, and its snapshot.
struct Previous {
    name: String,
    line: Option<u32>,
    snap: Snap,
}

/// A test's checkpoints so far.
#[derive(Default)]
pub(crate) struct Chain {
    announced: Option<Announced>,
    previous: Option<Previous>,
}

impl Chain {
    /// A checkpoint starts: `line` is where `t.checkpoint` was called in
    /// the test file (none when the call is in another file).
    pub(crate) fn announce(
        &mut self,
        name: String,
        budget: Option<serde_json::Value>,
        line: Option<u32>,
    ) {
        self.announced = Some(Announced { name, budget, line });
    }

    /// The checkpoint's snapshot has arrived: the step it closes (none for
    /// the first checkpoint), and how long parsing was waited for.
    pub(crate) fn close(
        &mut self,
        snapshot: Incoming,
        maps: &SourceMaps,
    ) -> Result<Option<(Block, Duration)>, String> {
        let announced = self
            .announced
            .take()
            .ok_or("a checkpoint's snapshot arrived without its checkpoint")?;
        let Some(previous) = self.previous.take() else {
            self.previous = Some(Previous {
                name: announced.name,
                line: announced.line,
                snap: Snap::Arriving(snapshot),
            });
            return Ok(None);
        };
        let started = Instant::now();
        let mut before = match previous.snap {
            Snap::Arriving(i) => i.wait()?,
            Snap::Parsed(p) => *p,
        };
        let mut after = snapshot.wait()?;
        let waited = started.elapsed();
        let (comparison, kept, allocations) = explained(&mut before, &mut after, true, maps)?;
        let snapshots = before.path.clone().zip(after.path.clone());
        drop(before);
        let block = Block {
            kind: BlockKind::Step,
            from: Some((previous.name, previous.line)),
            budget: announced.budget,
            comparison,
            retainers: kept.retainers,
            grown: kept.grown,
            allocations,
            snapshots,
            line: announced.line,
            ..Block::named(announced.name.clone())
        };
        self.previous = Some(Previous {
            name: announced.name,
            line: announced.line,
            snap: Snap::Parsed(Box::new(after)),
        });
        Ok(Some((block, waited)))
    }

    /// Drop a snapshot still arriving (the test ended or failed).
    pub(crate) fn abandon(&mut self) {
        if let Some(Previous {
            snap: Snap::Arriving(i),
            ..
        }) = self.previous.take()
        {
            i.abandon();
        }
    }
}

/// The names of a test's blocks and steps so far, and where each was
/// given. Names key the baseline, so none may come twice; the harness keeps
/// no name between checkpoints (it would count as the test's), so the
/// runner, which sees them all, checks.
#[derive(Default)]
pub(crate) struct Names(HashMap<String, String>);

impl Names {
    /// Take `name` for the call `call` made at `at` (`file:line`), or say
    /// why it cannot be.
    pub(crate) fn claim(&mut self, name: &str, call: &str, at: &str) -> Result<(), String> {
        let this = format!("{call}({})", crate::text::quote_name(name));
        match self.0.get(name) {
            Some(first) => Err(format!(
                "{this} at {at}: the name is already used in this test, by {first}; give every block and step a name of its own (names key the baseline)"
            )),
            None => {
                self.0.insert(name.to_owned(), format!("{call} at {at}"));
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_used_twice_names_both_calls() {
        let mut names = Names::default();
        names
            .claim("start", "t.checkpoint", "a.memtest.js:4")
            .unwrap();
        names.claim("fill", "t.measure", "a.memtest.js:5").unwrap();
        let e = names
            .claim("fill", "t.checkpoint", "a.memtest.js:9")
            .unwrap_err();
        assert_eq!(
            e,
            "t.checkpoint(\"fill\") at a.memtest.js:9: the name is already used in this test, by t.measure at a.memtest.js:5; give every block and step a name of its own (names key the baseline)"
        );
    }
}
