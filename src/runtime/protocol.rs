//! What the harness says on its channel, and the order it must say it in.
//!
//! The runner never trusts a verdict on its own: [`Conversation`] checks
//! every message and snapshot chunk against the protocol (a test starts,
//! its checkpoints come in order inside blocks that end, each `t.checkpoint`
//! brings exactly one snapshot and every one after the first closes a step,
//! at least one block or step is measured, sizes stay within limits) and
//! words any breach for the user.

use serde::Deserialize;

/// What the harness says, in order.
#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    Runtime(RuntimeInfo),
    /// The test file is about to be imported.
    Loading,
    Tests {
        tests: Vec<ListedTest>,
    },
    LoadError {
        message: String,
        stack: String,
    },
    TestStart {
        name: String,
    },
    Block {
        name: String,
        budget: Option<serde_json::Value>,
        /// Measured runs of a `repeat` block (0: a plain block).
        #[serde(default)]
        repeat: u32,
        /// Runs of the body before the first checkpoint (`warmup`), besides
        /// a `repeat` block's own.
        #[serde(default)]
        warmup: u32,
        /// Where `t.measure` was called.
        #[serde(default)]
        line: Option<u32>,
        #[serde(default)]
        url: Option<String>,
    },
    BlockEnd {
        name: String,
    },
    /// A `t.checkpoint`: the next snapshot is its own. Every checkpoint
    /// after the test's first closes a step named `name`, measured from the
    /// checkpoint before it.
    Checkpoint {
        name: String,
        /// The budget of the step it closes (none on the first).
        #[serde(default)]
        budget: Option<serde_json::Value>,
        /// Where `t.checkpoint` was called.
        #[serde(default)]
        line: Option<u32>,
        #[serde(default)]
        url: Option<String>,
    },
    CheckpointEnd {
        name: String,
    },
    Snapshot {
        label: String,
        /// Milliseconds V8 took to collect garbage and take it.
        #[serde(default)]
        took: f64,
    },
    SnapshotEnd {
        label: String,
        /// The snapshot's length, when the harness wrote it to its heap
        /// file rather than sending it in chunks.
        #[serde(default)]
        bytes: Option<u64>,
    },
    WholeBefore,
    /// Bytes allocated by the current block, garbage included.
    Allocated {
        bytes: u64,
    },
    WholeAfter {
        name: String,
    },
    Passed {
        /// In a shared process (`isolation = "file"`): the test returned
        /// with more timers or handles active than it found.
        #[serde(default)]
        left_pending: bool,
    },
    /// The test measured no block and was not measured whole: run it again
    /// as a whole-body block.
    NeedsWhole,
    Error {
        message: String,
        stack: String,
        /// In a shared process: the error surfaced outside the test's own
        /// promise chain (an unhandled rejection, a timer that threw), so it
        /// may be an earlier test's.
        #[serde(default)]
        stray: bool,
    },
    Fatal {
        message: String,
    },
}

/// The runtime that ran the tests.
#[derive(Debug, Deserialize, Clone, PartialEq, Eq, serde::Serialize, Default)]
pub struct RuntimeInfo {
    pub name: String,
    pub version: String,
    pub v8: String,
}

/// A test as declared in its file.
#[derive(Debug, Deserialize, Clone, PartialEq)]
pub struct ListedTest {
    pub name: String,
    pub line: Option<u32>,
    #[serde(default)]
    pub ignore: bool,
    /// The test measures allocated bytes (needs the inspector).
    #[serde(default)]
    pub allocated: bool,
    pub timeout: Option<serde_json::Value>,
    pub budget: Option<serde_json::Value>,
    /// Why the test's options cannot be used, in words.
    #[serde(default)]
    pub invalid: Option<String>,
}

/// The largest heap snapshot the runner accepts.
pub const MAX_SNAPSHOT_BYTES: u64 = 16 << 30;

/// What the runner asked the harness to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    List,
    Run { name: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Start,
    Introduced,
    Loading,
    Testing,
    Done,
}

/// Where the harness stopped, when its channel ended early.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unfinished {
    /// Before it said anything.
    Silent,
    /// While importing the test file (top-level code, including `await`).
    Loading,
    /// The test ran, outside any block.
    Test,
    /// Inside a block (`t.measure`) that never ended.
    Block(String),
    /// While a checkpoint (`t.checkpoint`) was being taken.
    Checkpoint(String),
}

/// Checks the harness's messages against the protocol, in order.
#[derive(Debug)]
pub struct Conversation {
    mode: Mode,
    stage: Stage,
    snapshot: Option<(String, u64)>,
    /// The open block and the snapshots it has had so far.
    block: Option<(String, u32, u32)>,
    /// The checkpoint being taken and the snapshots it has had so far.
    checkpoint: Option<(String, u32)>,
    /// Checkpoints taken; each one after the first measured a step.
    checkpoints: u32,
    snapshots_outside_blocks: u32,
    /// Blocks and steps measured.
    blocks: u32,
    whole: bool,
}

impl Conversation {
    pub fn new(mode: Mode) -> Conversation {
        Conversation {
            mode,
            stage: Stage::Start,
            snapshot: None,
            block: None,
            checkpoint: None,
            checkpoints: 0,
            snapshots_outside_blocks: 0,
            blocks: 0,
            whole: false,
        }
    }

    /// The conversation about the next test of a process that runs several
    /// (the file already loaded).
    pub fn next_test(name: &str) -> Conversation {
        let mut c = Conversation::new(Mode::Run {
            name: name.to_owned(),
        });
        c.stage = Stage::Loading;
        c
    }

    /// Check the next message; the breach, in words, if it is out of place.
    pub fn message(&mut self, m: &Message) -> Result<(), String> {
        let out_of_place = || format!("the harness sent {} out of order", describe(m));
        match (self.stage, m) {
            (Stage::Start, Message::Runtime(_)) => self.stage = Stage::Introduced,
            (Stage::Introduced, Message::Loading) => self.stage = Stage::Loading,
            (Stage::Loading | Stage::Introduced, Message::LoadError { .. })
            | (Stage::Loading | Stage::Introduced, Message::Fatal { .. }) => {
                self.stage = Stage::Done
            }
            (Stage::Loading, Message::Tests { .. }) if self.mode == Mode::List => {
                self.stage = Stage::Done
            }
            (Stage::Loading, Message::Error { .. }) => self.stage = Stage::Done,
            (Stage::Loading, Message::TestStart { name }) => match &self.mode {
                Mode::Run { name: wanted } if wanted == name => self.stage = Stage::Testing,
                Mode::Run { name: wanted } => {
                    return Err(format!(
                        "the harness started test {name:?} instead of {wanted:?}; did the file change since it was listed?"
                    ));
                }
                Mode::List => return Err(out_of_place()),
            },
            (Stage::Testing, _) => return self.testing(m),
            _ => return Err(out_of_place()),
        }
        Ok(())
    }

    fn testing(&mut self, m: &Message) -> Result<(), String> {
        // A failure ends the test wherever it comes (even mid-snapshot).
        if matches!(m, Message::Error { .. } | Message::Fatal { .. }) {
            self.stage = Stage::Done;
            return Ok(());
        }
        if self.snapshot.is_some() && !matches!(m, Message::SnapshotEnd { .. }) {
            return Err(format!(
                "the harness sent {} in the middle of a heap snapshot",
                describe(m)
            ));
        }
        match m {
            Message::Snapshot { label, .. } => {
                self.snapshot = Some((label.clone(), 0));
                match (&mut self.block, &mut self.checkpoint) {
                    (Some((_, _, taken)), _) | (None, Some((_, taken))) => *taken += 1,
                    (None, None) => self.snapshots_outside_blocks += 1,
                }
            }
            Message::SnapshotEnd { label, .. } => match self.snapshot.take() {
                Some((open, _)) if &open == label => {}
                _ => return Err(format!("snapshot {label:?} ended without starting")),
            },
            Message::WholeBefore | Message::Allocated { .. } => {}
            Message::Block { name, .. } => {
                if let Some((open, ..)) = &self.block {
                    return Err(format!("block {name:?} started inside block {open:?}"));
                }
                if let Some((open, _)) = &self.checkpoint {
                    return Err(format!(
                        "block {name:?} started while checkpoint {open:?} was taken"
                    ));
                }
                let repeat = match m {
                    Message::Block { repeat, .. } => *repeat,
                    _ => 0,
                };
                self.block = Some((name.clone(), repeat, 0));
            }
            Message::BlockEnd { name } => match self.block.take() {
                Some((open, repeat, taken)) if &open == name => {
                    let wanted = repeat.max(1) + 1;
                    if taken != wanted {
                        return Err(format!(
                            "block {name:?} ended after {taken} checkpoints instead of {wanted}"
                        ));
                    }
                    self.blocks += 1;
                }
                Some((open, ..)) => {
                    return Err(format!(
                        "block {name:?} ended while block {open:?} was open"
                    ));
                }
                None => return Err(format!("block {name:?} ended without starting")),
            },
            Message::Checkpoint { name, .. } => return self.checkpoint_starts(name),
            Message::CheckpointEnd { name } => return self.checkpoint_ends(name),
            Message::WholeAfter { .. } => {
                if self.blocks > 0
                    || self.checkpoints > 0
                    || self.block.is_some()
                    || self.checkpoint.is_some()
                    || self.snapshots_outside_blocks < 2
                {
                    return Err("the whole-test block ended without its two checkpoints".into());
                }
                self.whole = true;
            }
            Message::Passed { .. } => {
                if let Some((open, ..)) = &self.block {
                    return Err(format!(
                        "the test reported success while block {open:?} was still open"
                    ));
                }
                if let Some((open, _)) = &self.checkpoint {
                    return Err(format!(
                        "the test reported success while checkpoint {open:?} was being taken"
                    ));
                }
                if self.blocks == 0 && !self.whole {
                    return Err("the test reported success without measuring any block".into());
                }
                self.stage = Stage::Done;
            }
            Message::NeedsWhole => {
                if self.blocks > 0
                    || self.checkpoints > 0
                    || self.block.is_some()
                    || self.checkpoint.is_some()
                    || self.snapshots_outside_blocks > 0
                {
                    return Err("the test asked to be measured whole after measuring".into());
                }
                self.stage = Stage::Done;
            }
            Message::Error { .. } | Message::Fatal { .. } => self.stage = Stage::Done,
            _ => {
                return Err(format!(
                    "the harness sent {} while the test ran",
                    describe(m)
                ));
            }
        }
        Ok(())
    }

    /// A checkpoint starts: never inside a block or another checkpoint.
    fn checkpoint_starts(&mut self, name: &str) -> Result<(), String> {
        if let Some((open, ..)) = &self.block {
            return Err(format!(
                "checkpoint {name:?} was taken inside block {open:?}"
            ));
        }
        if let Some((open, _)) = &self.checkpoint {
            return Err(format!(
                "checkpoint {name:?} started while checkpoint {open:?} was taken"
            ));
        }
        self.checkpoint = Some((name.to_owned(), 0));
        Ok(())
    }

    /// A checkpoint ends after exactly one snapshot; each one after the
    /// first has measured a step.
    fn checkpoint_ends(&mut self, name: &str) -> Result<(), String> {
        match self.checkpoint.take() {
            Some((open, 1)) if open == name => {
                self.checkpoints += 1;
                if self.checkpoints > 1 {
                    self.blocks += 1;
                }
                Ok(())
            }
            Some((open, taken)) if open == name => Err(format!(
                "checkpoint {name:?} ended after {taken} snapshots instead of 1"
            )),
            _ => Err(format!("checkpoint {name:?} ended without starting")),
        }
    }

    /// Check a snapshot chunk of `len` bytes.
    pub fn chunk(&mut self, len: u64) -> Result<(), String> {
        let Some((label, size)) = &mut self.snapshot else {
            return Err("the harness sent snapshot data outside a snapshot".into());
        };
        *size = size.saturating_add(len);
        if *size > MAX_SNAPSHOT_BYTES {
            return Err(format!(
                "snapshot {label:?} is over {} GiB, the most memcheck reads",
                MAX_SNAPSHOT_BYTES >> 30
            ));
        }
        Ok(())
    }

    /// Whether a verdict (or a listing, or a load error) was received.
    pub fn finished(&self) -> bool {
        self.stage == Stage::Done
    }

    /// Where the harness was when its channel ended without a verdict.
    pub fn unfinished(&self) -> Option<Unfinished> {
        match self.stage {
            Stage::Done => None,
            Stage::Start | Stage::Introduced => Some(Unfinished::Silent),
            Stage::Loading => Some(Unfinished::Loading),
            Stage::Testing => Some(match (&self.block, &self.checkpoint) {
                (Some((name, ..)), _) => Unfinished::Block(name.clone()),
                (None, Some((name, _))) => Unfinished::Checkpoint(name.clone()),
                (None, None) => Unfinished::Test,
            }),
        }
    }
}

/// A message named for a breach report.
fn describe(m: &Message) -> String {
    let kind = match m {
        Message::Runtime(_) => "runtime",
        Message::Loading => "loading",
        Message::Tests { .. } => "tests",
        Message::LoadError { .. } => "load_error",
        Message::TestStart { .. } => "test_start",
        Message::Block { .. } => "block",
        Message::BlockEnd { .. } => "block_end",
        Message::Checkpoint { .. } => "checkpoint",
        Message::CheckpointEnd { .. } => "checkpoint_end",
        Message::Snapshot { .. } => "snapshot",
        Message::SnapshotEnd { .. } => "snapshot_end",
        Message::WholeBefore => "whole_before",
        Message::Allocated { .. } => "allocated",
        Message::WholeAfter { .. } => "whole_after",
        Message::Passed { .. } => "passed",
        Message::NeedsWhole => "needs_whole",
        Message::Error { .. } => "error",
        Message::Fatal { .. } => "fatal",
    };
    format!("a `{kind}` message")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(messages: &[&str]) -> (Conversation, Result<(), String>) {
        let mut c = Conversation::new(Mode::Run { name: "t".into() });
        for m in messages {
            let m: Message = serde_json::from_str(m).unwrap();
            if let Err(e) = c.message(&m) {
                return (c, Err(e));
            }
            if matches!(m, Message::Snapshot { .. }) {
                c.chunk(10).unwrap();
            }
        }
        (c, Ok(()))
    }

    const START: [&str; 3] = [
        r#"{"type":"runtime","name":"deno","version":"2","v8":"1"}"#,
        r#"{"type":"loading"}"#,
        r#"{"type":"test_start","name":"t"}"#,
    ];

    fn with_start(rest: &[&'static str]) -> Vec<&'static str> {
        START.iter().chain(rest).copied().collect()
    }

    #[test]
    fn a_whole_run_is_accepted() {
        let (c, r) = run(&with_start(&[
            r#"{"type":"whole_before"}"#,
            r#"{"type":"snapshot","label":"w"}"#,
            r#"{"type":"snapshot_end","label":"w"}"#,
            r#"{"type":"block","name":"b","budget":null,"repeat":0}"#,
            r#"{"type":"snapshot","label":"1"}"#,
            r#"{"type":"snapshot_end","label":"1"}"#,
            r#"{"type":"snapshot","label":"2"}"#,
            r#"{"type":"snapshot_end","label":"2"}"#,
            r#"{"type":"block_end","name":"b"}"#,
            r#"{"type":"passed"}"#,
        ]));
        assert_eq!(r, Ok(()));
        assert!(c.finished());
    }

    #[test]
    fn a_forged_pass_without_blocks_is_refused() {
        let (_, r) = run(&with_start(&[r#"{"type":"passed"}"#]));
        assert_eq!(
            r,
            Err("the test reported success without measuring any block".into())
        );
        let (_, r) = run(&[r#"{"type":"passed"}"#]);
        assert_eq!(
            r,
            Err("the harness sent a `passed` message out of order".into())
        );
    }

    #[test]
    fn an_open_block_is_named_where_the_channel_ended() {
        let (c, r) = run(&with_start(&[
            r#"{"type":"block","name":"insert","budget":null}"#,
            r#"{"type":"snapshot","label":"1"}"#,
            r#"{"type":"snapshot_end","label":"1"}"#,
        ]));
        assert_eq!(r, Ok(()));
        assert_eq!(c.unfinished(), Some(Unfinished::Block("insert".into())));
        let (_, r) = run(&with_start(&[
            r#"{"type":"block","name":"insert","budget":null}"#,
            r#"{"type":"passed"}"#,
        ]));
        assert!(
            r.unwrap_err()
                .contains("while block \"insert\" was still open")
        );
    }

    #[test]
    fn checkpoints_must_be_complete_and_in_order() {
        let (_, r) = run(&with_start(&[
            r#"{"type":"block","name":"b","budget":null,"repeat":3}"#,
            r#"{"type":"snapshot","label":"1"}"#,
            r#"{"type":"snapshot_end","label":"1"}"#,
            r#"{"type":"block_end","name":"b"}"#,
        ]));
        assert_eq!(
            r,
            Err("block \"b\" ended after 1 checkpoints instead of 4".into())
        );
        let (_, r) = run(&with_start(&[
            r#"{"type":"snapshot","label":"1"}"#,
            r#"{"type":"passed"}"#,
        ]));
        assert!(r.unwrap_err().contains("in the middle of a heap snapshot"));
        let mut c = Conversation::new(Mode::List);
        assert!(c.chunk(1).is_err());
    }

    /// A `t.checkpoint`: its message, one snapshot, its end.
    fn checkpoint(name: &str, label: &str) -> [String; 4] {
        [
            format!(r#"{{"type":"checkpoint","name":"{name}","budget":null,"line":3}}"#),
            format!(r#"{{"type":"snapshot","label":"{label}"}}"#),
            format!(r#"{{"type":"snapshot_end","label":"{label}"}}"#),
            format!(r#"{{"type":"checkpoint_end","name":"{name}"}}"#),
        ]
    }

    fn owned(messages: &[String]) -> Vec<&str> {
        START
            .iter()
            .copied()
            .chain(messages.iter().map(String::as_str))
            .collect()
    }

    #[test]
    fn a_chain_of_checkpoints_measures_steps_around_blocks() {
        let mut messages: Vec<String> = checkpoint("start", "c1").into();
        messages.extend([
            r#"{"type":"block","name":"b","budget":null,"repeat":0}"#.to_owned(),
            r#"{"type":"snapshot","label":"b1"}"#.to_owned(),
            r#"{"type":"snapshot_end","label":"b1"}"#.to_owned(),
            r#"{"type":"snapshot","label":"b2"}"#.to_owned(),
            r#"{"type":"snapshot_end","label":"b2"}"#.to_owned(),
            r#"{"type":"block_end","name":"b"}"#.to_owned(),
        ]);
        messages.extend(checkpoint("end", "c2"));
        messages.push(r#"{"type":"passed"}"#.to_owned());
        let (c, r) = run(&owned(&messages));
        assert_eq!(r, Ok(()));
        assert!(c.finished());
        // Two checkpoints alone measure a step.
        let mut messages: Vec<String> = checkpoint("start", "c1").into();
        messages.extend(checkpoint("end", "c2"));
        messages.push(r#"{"type":"passed"}"#.to_owned());
        assert_eq!(run(&owned(&messages)).1, Ok(()));
    }

    #[test]
    fn one_checkpoint_measures_nothing_and_forbids_a_whole_run() {
        let mut messages: Vec<String> = checkpoint("start", "c1").into();
        messages.push(r#"{"type":"passed"}"#.to_owned());
        let (_, r) = run(&owned(&messages));
        assert_eq!(
            r,
            Err("the test reported success without measuring any block".into())
        );
        let mut messages: Vec<String> = checkpoint("start", "c1").into();
        messages.push(r#"{"type":"needs_whole"}"#.to_owned());
        let (_, r) = run(&owned(&messages));
        assert_eq!(
            r,
            Err("the test asked to be measured whole after measuring".into())
        );
    }

    #[test]
    fn checkpoints_and_blocks_do_not_nest() {
        let (_, r) = run(&with_start(&[
            r#"{"type":"block","name":"b","budget":null}"#,
            r#"{"type":"checkpoint","name":"c","budget":null}"#,
        ]));
        assert_eq!(
            r,
            Err("checkpoint \"c\" was taken inside block \"b\"".into())
        );
        let (_, r) = run(&with_start(&[
            r#"{"type":"checkpoint","name":"c","budget":null}"#,
            r#"{"type":"block","name":"b","budget":null}"#,
        ]));
        assert_eq!(
            r,
            Err("block \"b\" started while checkpoint \"c\" was taken".into())
        );
        let (_, r) = run(&with_start(&[
            r#"{"type":"checkpoint","name":"c","budget":null}"#,
            r#"{"type":"checkpoint","name":"d","budget":null}"#,
        ]));
        assert!(r.unwrap_err().contains("started while checkpoint \"c\""));
    }

    #[test]
    fn a_checkpoint_takes_exactly_one_snapshot() {
        let (_, r) = run(&with_start(&[
            r#"{"type":"checkpoint","name":"c","budget":null}"#,
            r#"{"type":"checkpoint_end","name":"c"}"#,
        ]));
        assert_eq!(
            r,
            Err("checkpoint \"c\" ended after 0 snapshots instead of 1".into())
        );
        let mut messages: Vec<String> = checkpoint("c", "c1").into();
        messages.insert(3, r#"{"type":"snapshot","label":"x"}"#.to_owned());
        messages.insert(4, r#"{"type":"snapshot_end","label":"x"}"#.to_owned());
        let (_, r) = run(&owned(&messages));
        assert_eq!(
            r,
            Err("checkpoint \"c\" ended after 2 snapshots instead of 1".into())
        );
        let (_, r) = run(&with_start(&[r#"{"type":"checkpoint_end","name":"c"}"#]));
        assert_eq!(r, Err("checkpoint \"c\" ended without starting".into()));
    }

    #[test]
    fn an_open_checkpoint_is_named_where_the_channel_ended() {
        let (c, r) = run(&with_start(&[
            r#"{"type":"checkpoint","name":"after clear","budget":{"objects":0}}"#,
            r#"{"type":"snapshot","label":"c2"}"#,
        ]));
        assert_eq!(r, Ok(()));
        assert_eq!(
            c.unfinished(),
            Some(Unfinished::Checkpoint("after clear".into()))
        );
        let (_, r) = run(&with_start(&[
            r#"{"type":"checkpoint","name":"c","budget":null}"#,
            r#"{"type":"passed"}"#,
        ]));
        assert!(
            r.unwrap_err()
                .contains("while checkpoint \"c\" was being taken")
        );
    }

    #[test]
    fn the_test_must_be_the_one_asked_for() {
        let mut c = Conversation::new(Mode::Run { name: "a".into() });
        for m in &START[..2] {
            c.message(&serde_json::from_str(m).unwrap()).unwrap();
        }
        let r = c.message(&Message::TestStart { name: "b".into() });
        assert!(
            r.unwrap_err()
                .contains("started test \"b\" instead of \"a\"")
        );
    }
}
