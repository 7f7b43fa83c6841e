//! What differs between two versions of a baseline, figure by figure, in
//! words: what `--update` and `accept` say they changed, so that a blanket
//! update cannot accept a regression silently.

use std::collections::BTreeMap;

use super::{BaselineFile, BlockBaseline, TestBaseline};
use crate::text::quote_name;

/// Every test, block and figure that differs from `old` to `new`, one line
/// each (`"test" › "block": retained_objects 100 → 150 (grew by 50)`).
pub fn file_changes(old: &BaselineFile, new: &BaselineFile) -> Vec<String> {
    let mut lines = Vec::new();
    for test in union(&old.tests, &new.tests) {
        let name = quote_name(test);
        match (old.tests.get(test), new.tests.get(test)) {
            (None, Some(t)) => lines.push(format!("{name}: recorded ({})", blocks(t))),
            (Some(_), None) => lines.push(format!("{name}: removed")),
            (Some(a), Some(b)) => lines.extend(test_changes(&name, a, b)),
            (None, None) => {}
        }
    }
    lines
}

fn test_changes(test: &str, old: &TestBaseline, new: &TestBaseline) -> Vec<String> {
    let mut lines = Vec::new();
    for block in union(old, new) {
        let head = format!("{test} › {}", quote_name(block));
        match (old.get(block), new.get(block)) {
            (None, Some(_)) => lines.push(format!("{head}: block recorded")),
            (Some(_), None) => lines.push(format!("{head}: block removed")),
            (Some(a), Some(b)) => lines.extend(
                block_changes(a, b)
                    .into_iter()
                    .map(|c| format!("{head}: {c}")),
            ),
            (None, None) => {}
        }
    }
    lines
}

/// Each figure of a block that differs: `retained_objects 100 → 150 (grew by 50)`.
pub fn block_changes(old: &BlockBaseline, new: &BlockBaseline) -> Vec<String> {
    let mut out = Vec::new();
    let mut figure = |what: String, a: i128, b: i128| {
        if a != b {
            let how = if b > a { "grew" } else { "shrank" };
            out.push(format!("{what} {a} → {b} ({how} by {})", (b - a).abs()));
        }
    };
    let totals = [
        (
            "retained_objects",
            old.retained_objects,
            new.retained_objects,
        ),
        ("retained_bytes", old.retained_bytes, new.retained_bytes),
        ("freed_objects", old.freed_objects, new.freed_objects),
        ("freed_bytes", old.freed_bytes, new.freed_bytes),
    ];
    for (what, a, b) in totals {
        figure(what.to_owned(), a.into(), b.into());
    }
    if old.allocated_bytes != new.allocated_bytes {
        let (a, b) = (
            old.allocated_bytes.unwrap_or(0),
            new.allocated_bytes.unwrap_or(0),
        );
        figure("allocated_bytes".to_owned(), a.into(), b.into());
    }
    let names: BTreeMap<&str, ()> = old
        .constructors
        .iter()
        .chain(&new.constructors)
        .map(|c| (c.name.as_str(), ()))
        .collect();
    for name in names.keys() {
        let find = |b: &BlockBaseline| b.constructors.iter().find(|c| c.name == *name).cloned();
        let (a, b) = (find(old), find(new));
        let field = |f: fn(&super::ConstructorBaseline) -> i128| {
            (a.as_ref().map_or(0, f), b.as_ref().map_or(0, f))
        };
        let (new_a, new_b) = field(|c| c.new.into());
        figure(format!("{name} new"), new_a, new_b);
        let (del_a, del_b) = field(|c| c.deleted.into());
        figure(format!("{name} deleted"), del_a, del_b);
        let (size_a, size_b) = field(|c| c.size_delta.into());
        figure(format!("{name} size_delta"), size_a, size_b);
    }
    out
}

fn union<'a, V>(a: &'a BTreeMap<String, V>, b: &'a BTreeMap<String, V>) -> Vec<&'a String> {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys
}

fn blocks(t: &TestBaseline) -> String {
    match t.len() {
        1 => "1 block".to_owned(),
        n => format!("{n} blocks"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::ConstructorBaseline;

    fn block(entries: u64) -> BlockBaseline {
        BlockBaseline {
            retained_objects: entries,
            retained_bytes: 32 * entries,
            constructors: vec![ConstructorBaseline {
                name: "CacheEntry".into(),
                new: entries,
                deleted: 0,
                size_delta: 32 * entries as i64,
            }],
            ..BlockBaseline::default()
        }
    }

    fn file(tests: &[(&str, u64)]) -> BaselineFile {
        let mut f = BaselineFile::default();
        for (name, n) in tests {
            f.tests
                .entry((*name).to_owned())
                .or_default()
                .insert("insert".into(), block(*n));
        }
        f
    }

    #[test]
    fn every_changed_figure_is_listed_with_its_direction() {
        let old = file(&[("cache", 100), ("gone", 1)]);
        let new = file(&[("cache", 150), ("fresh", 2)]);
        assert_eq!(
            file_changes(&old, &new),
            [
                "\"cache\" › \"insert\": retained_objects 100 → 150 (grew by 50)",
                "\"cache\" › \"insert\": retained_bytes 3200 → 4800 (grew by 1600)",
                "\"cache\" › \"insert\": CacheEntry new 100 → 150 (grew by 50)",
                "\"cache\" › \"insert\": CacheEntry size_delta 3200 → 4800 (grew by 1600)",
                "\"fresh\": recorded (1 block)",
                "\"gone\": removed",
            ]
        );
        let shrunk = block_changes(&block(100), &block(40));
        assert_eq!(shrunk[0], "retained_objects 100 → 40 (shrank by 60)");
        assert!(block_changes(&block(7), &block(7)).is_empty());
    }
}
