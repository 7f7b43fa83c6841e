//! `repeat` blocks: what each run left alive against the run before, and
//! the constructors that grew in every run (leaks, as the `leakage` package
//! finds them, but by constructor).

use crate::diff::Comparison;

/// What one run of a `repeat` block left alive, against the run before.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunDelta {
    /// Objects alive after this run minus after the one before.
    pub objects_delta: i64,
    pub bytes_delta: i64,
    /// Constructors whose count changed.
    pub constructors: Vec<NamedDelta>,
}

/// A constructor's change in count over one run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NamedDelta {
    pub name: String,
    pub delta: i64,
}

impl From<&Comparison> for RunDelta {
    fn from(c: &Comparison) -> RunDelta {
        RunDelta {
            objects_delta: c.retained_objects as i64 - c.freed_objects as i64,
            bytes_delta: c.retained_bytes as i64 - c.freed_bytes as i64,
            constructors: c
                .constructors
                .iter()
                .filter(|r| r.delta != 0)
                .map(|r| NamedDelta {
                    name: r.name.clone(),
                    delta: r.delta,
                })
                .collect(),
        }
    }
}

/// A constructor whose live count grew in every run: a leak.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Growth {
    pub name: String,
    /// Its growth in each run.
    pub deltas: Vec<i64>,
}

/// The runs of a `repeat` block.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Repetition {
    pub runs: Vec<RunDelta>,
    /// Constructors that grew in every run, most first.
    pub leaking: Vec<Growth>,
}

impl Repetition {
    pub fn from_runs(runs: Vec<RunDelta>) -> Repetition {
        let mut names: Vec<&String> = runs
            .iter()
            .flat_map(|r| r.constructors.iter().map(|c| &c.name))
            .collect();
        names.sort();
        names.dedup();
        let mut leaking: Vec<Growth> = names
            .into_iter()
            .map(|name| Growth {
                name: name.clone(),
                deltas: runs
                    .iter()
                    .map(|r| {
                        r.constructors
                            .iter()
                            .find(|c| &c.name == name)
                            .map_or(0, |c| c.delta)
                    })
                    .collect(),
            })
            .filter(|g| !g.deltas.is_empty() && g.deltas.iter().all(|&d| d > 0))
            .collect();
        leaking.sort_by(|a, b| {
            b.deltas
                .iter()
                .sum::<i64>()
                .cmp(&a.deltas.iter().sum::<i64>())
                .then_with(|| a.name.cmp(&b.name))
        });
        Repetition { runs, leaking }
    }
}
