//! Which trials run: libtest's filters (FILTER, `--exact`, `--skip`,
//! `--ignored`), then `--partition`. With a partition, libtest-mimic is
//! handed arguments that skip exactly the trials left out, so that its
//! count of tests filtered out and `--list` include the other shards.

use std::collections::HashSet;

use libtest_mimic::{Arguments, Trial};

use crate::partition::Partition;

/// The arguments to hand libtest-mimic, and the full names of the trials
/// chosen (run, or shown as ignored).
pub fn select(
    args: &Arguments,
    trials: &[Trial],
    partition: Option<Partition>,
) -> (Arguments, HashSet<String>) {
    let passing: Vec<&str> = trials
        .iter()
        .filter(|t| !args.is_filtered_out(t))
        .map(|t| t.name())
        .collect();
    let Some(partition) = partition else {
        return (
            args.clone(),
            passing.into_iter().map(str::to_owned).collect(),
        );
    };
    let keep = partition.keep(&passing);
    let chosen: HashSet<String> = passing
        .iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(n, _)| (*n).to_owned())
        .collect();
    let mut skip: Vec<String> = trials
        .iter()
        .map(|t| t.name().to_owned())
        .filter(|n| !chosen.contains(n))
        .collect();
    skip.dedup();
    let narrowed = Arguments {
        filter: None,
        exact: true,
        skip,
        ..args.clone()
    };
    (narrowed, chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trials(names: &[&str]) -> Vec<Trial> {
        names.iter().map(|n| Trial::test(*n, || Ok(()))).collect()
    }

    #[test]
    fn the_partition_applies_after_the_filter() {
        let all = trials(&["a::1", "a::2", "b::1", "a::3"]);
        let args = Arguments {
            filter: Some("a::".into()),
            ..Arguments::default()
        };
        let (narrowed, chosen) = select(&args, &all, "count:1/2".parse().ok());
        let mut chosen: Vec<_> = chosen.into_iter().collect();
        chosen.sort();
        assert_eq!(chosen, ["a::1", "a::3"]);
        let run: Vec<&str> = all
            .iter()
            .filter(|t| !narrowed.is_filtered_out(t))
            .map(|t| t.name())
            .collect();
        assert_eq!(run, ["a::1", "a::3"]);
        let (same, _) = select(&args, &all, None);
        assert_eq!(same.filter.as_deref(), Some("a::"));
    }
}
