//! Where a test's time goes, phase by phase: what `--timings` prints and
//! the JSON report carries, so that a slow memory suite can be understood.

use std::time::Duration;

use serde::Serialize;

/// A test's phases. `body` is the rest: the test's own code and the
/// harness's waits around it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Timings {
    /// Starting the runtime, up to its first word (the harness's set-up included).
    #[serde(serialize_with = "ms")]
    pub start: Duration,
    /// Importing the test file and what it imports.
    #[serde(serialize_with = "ms")]
    pub load: Duration,
    /// The harness's warm-up checkpoint.
    #[serde(serialize_with = "ms")]
    pub warmup: Duration,
    /// V8's work at the checkpoints: full GC and taking the snapshot.
    #[serde(serialize_with = "ms")]
    pub snapshot: Duration,
    /// Serializing the snapshots and streaming them to memcheck.
    #[serde(serialize_with = "ms")]
    pub transfer: Duration,
    /// Waiting for the parser once a snapshot had arrived (parsing runs
    /// while it streams in).
    #[serde(serialize_with = "ms")]
    pub parse: Duration,
    /// Census, comparison and retainer paths.
    #[serde(serialize_with = "ms")]
    pub compare: Duration,
    #[serde(serialize_with = "ms")]
    pub body: Duration,
    /// Judging the blocks against budgets and baselines.
    #[serde(serialize_with = "ms")]
    pub judge: Duration,
    /// The re-run that tracks allocations to explain a failure.
    #[serde(serialize_with = "ms")]
    pub explain: Duration,
    #[serde(serialize_with = "ms")]
    pub total: Duration,
}

/// The phases in the order they happen, with their names.
pub const PHASES: [&str; 10] = [
    "start", "load", "warmup", "snapshot", "transfer", "parse", "compare", "body", "judge",
    "explain",
];

impl Timings {
    /// The phase durations in [`PHASES`] order.
    pub fn phases(&self) -> [Duration; 10] {
        [
            self.start,
            self.load,
            self.warmup,
            self.snapshot,
            self.transfer,
            self.parse,
            self.compare,
            self.body,
            self.judge,
            self.explain,
        ]
    }

    /// Attribute to `body` what the measured phases leave of `total`.
    pub fn settle_body(&mut self) {
        let measured: Duration = self.phases().iter().sum::<Duration>() - self.body;
        self.body = self.total.saturating_sub(measured);
    }

    /// The sum of two tests' timings.
    pub fn add(&mut self, other: &Timings) {
        self.start += other.start;
        self.load += other.load;
        self.warmup += other.warmup;
        self.snapshot += other.snapshot;
        self.transfer += other.transfer;
        self.parse += other.parse;
        self.compare += other.compare;
        self.body += other.body;
        self.judge += other.judge;
        self.explain += other.explain;
        self.total += other.total;
    }
}

fn ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1e6).round() / 1e3)
}

/// A table of each test's phases (ms) and the suite's totals.
pub fn table(rows: &[(String, Timings)]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = write!(out, "{:>8}", "total");
    for p in PHASES {
        let _ = write!(out, " {p:>8}");
    }
    let _ = writeln!(out, "  test (ms)");
    let mut sum = Timings::default();
    for (name, t) in rows {
        sum.add(t);
        line(&mut out, t, name);
    }
    line(&mut out, &sum, "(suite)");
    out
}

fn line(out: &mut String, t: &Timings, name: &str) {
    use std::fmt::Write as _;
    let _ = write!(out, "{:>8.0}", t.total.as_secs_f64() * 1e3);
    for d in t.phases() {
        let _ = write!(out, " {:>8.0}", d.as_secs_f64() * 1e3);
    }
    let _ = writeln!(out, "  {name}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_what_is_left() {
        let mut t = Timings {
            start: Duration::from_millis(50),
            snapshot: Duration::from_millis(200),
            total: Duration::from_millis(400),
            ..Timings::default()
        };
        t.settle_body();
        assert_eq!(t.body, Duration::from_millis(150));
        let json = serde_json::to_value(t).unwrap();
        assert_eq!(json["snapshot"], 200.0);
        let table = table(&[("a::b".into(), t)]);
        assert!(table.lines().nth(1).unwrap().ends_with("a::b"), "{table}");
        assert!(table.contains("(suite)"), "{table}");
    }
}
