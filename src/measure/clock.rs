//! The clock of one test run: which phase (start, load, warm-up, snapshot,
//! transfer, parse, compare) each moment between the harness's messages
//! belongs to, summed into the test's `Timings` (`--timings`).

use std::time::{Duration, Instant};

use crate::runtime::Message;
use crate::timings::Timings;

/// The times of a test's phases, from the messages as they arrive.
pub(super) struct Clock {
    spawned: Instant,
    last: Instant,
    loading: Option<Instant>,
    started: Option<Instant>,
    warmed: bool,
    snapshot: Option<Instant>,
}

impl Clock {
    pub(super) fn new() -> Clock {
        let now = Instant::now();
        Clock {
            spawned: now,
            last: now,
            loading: None,
            started: None,
            warmed: false,
            snapshot: None,
        }
    }

    pub(super) fn message(&mut self, m: &Message, t: &mut Timings) {
        let now = Instant::now();
        match m {
            Message::Runtime(_) => t.start += now - self.spawned,
            Message::Loading => {
                t.start += now - self.last;
                self.loading = Some(now);
            }
            Message::TestStart { .. } => {
                t.load += self.loading.map_or(Duration::ZERO, |l| now - l);
                self.started = Some(now);
            }
            Message::Block { .. } | Message::Checkpoint { .. } | Message::WholeBefore
                if !self.warmed =>
            {
                self.warmed = true;
                t.warmup += self.started.map_or(Duration::ZERO, |s| now - s);
            }
            Message::Snapshot { took, .. } => {
                t.snapshot += Duration::from_secs_f64(took.max(0.0) / 1e3);
                self.snapshot = Some(now);
            }
            Message::SnapshotEnd { .. } => {
                t.transfer += self.snapshot.take().map_or(Duration::ZERO, |s| now - s);
            }
            _ => {}
        }
        self.last = now;
    }

    /// A block's snapshots were parsed (after waiting `parse`) and compared.
    pub(super) fn block_done(&mut self, parse: Duration, t: &mut Timings) {
        let now = Instant::now();
        t.parse += parse;
        t.compare += (now - self.last).saturating_sub(parse);
        self.last = now;
    }

    pub(super) fn finish(&self, t: &mut Timings) {
        t.total = self.spawned.elapsed();
        t.settle_body();
    }
}
