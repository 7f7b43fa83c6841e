//! Which trials run: libtest's filters (FILTER, `--exact`, `--skip`,
//! `--ignored`), as libtest-mimic applies them.

use std::collections::HashSet;

use libtest_mimic::{Arguments, Trial};

/// The full names of the trials chosen (run, or shown as ignored).
pub fn chosen(args: &Arguments, trials: &[Trial]) -> HashSet<String> {
    trials
        .iter()
        .filter(|t| !args.is_filtered_out(t))
        .map(|t| t.name().to_owned())
        .collect()
}
