//! The Comparison of two snapshots, per constructor, with the semantics of
//! the Chrome DevTools Memory panel: objects matched by snapshot id, per class
//! `# New`, `# Deleted`, `# Delta`, `Alloc. Size`, `Freed Size`, `Size Delta`.

mod census;
mod kinds;
mod names;

use serde::{Deserialize, Serialize};

pub use census::{
    Census, Classes, Counted, Interfaces, Table, census, held_across, infer_interfaces,
};

use crate::snapshot::Snapshot;

/// One row of the Comparison view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConstructorDelta {
    pub name: String,
    pub new: u64,
    pub deleted: u64,
    pub delta: i64,
    pub alloc_size: u64,
    pub freed_size: u64,
    pub size_delta: i64,
}

/// What a block did to the heap: the Comparison rows and their totals.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comparison {
    /// Bytes of the new objects still alive after the block.
    pub retained_bytes: u64,
    /// Count of the new objects still alive after the block.
    pub retained_objects: u64,
    pub freed_bytes: u64,
    pub freed_objects: u64,
    /// Rows with a change, sorted by allocated size, largest first.
    pub constructors: Vec<ConstructorDelta>,
}

impl Comparison {
    pub fn constructor(&self, name: &str) -> Option<&ConstructorDelta> {
        self.constructors.iter().find(|c| c.name == name)
    }
}

/// Compare `before` (the base) with `after` (the current snapshot).
pub fn compare(before: &Snapshot, after: &Snapshot) -> Comparison {
    compare_tables(Table::of(before), Table::of(after))
}

/// Compare two snapshots by their tables (see [`Table`]): all a Comparison
/// needs, so neither graph has to be kept for it.
pub fn compare_tables(before: Table, after: Table) -> Comparison {
    let (classes, base, current) = resolved(before, after);
    compare_census(&base, &current, &classes)
}

/// The comparison, and what explains it: the new objects of each class as
/// nodes of `after` (for retainer paths and allocation sites), in id order,
/// and the objects that grew.
pub fn compare_with_new(before: &Snapshot, after: &Snapshot) -> (Comparison, Changes) {
    compare_tables_with_new(Table::of(before), Table::of(after))
}

/// [`compare_with_new`] by the two snapshots' tables; the nodes it names
/// are those of the snapshot `after` was made of.
pub fn compare_tables_with_new(before: Table, after: Table) -> (Comparison, Changes) {
    let (classes, base, current) = resolved(before, after);
    let comparison = compare_census(&base, &current, &classes);
    let changes = changes(&base, &current, &classes);
    (comparison, changes)
}

/// What a Comparison's rows come from, to explain them: which objects are
/// new, and which objects alive at both snapshots grew.
#[derive(Debug, Default)]
pub struct Changes {
    pub new: NewObjects,
    /// Largest growth first.
    pub grown: Vec<Grown>,
}

/// An object alive at both snapshots whose size (its own, with the arrays
/// and backing stores it alone owns, as the census counts it) grew by at
/// least [`GROWN_MIN_BYTES`] and to at least [`GROWN_MIN_FACTOR`] times its
/// size: a dictionary, an array or a Map's table that kept filling. The
/// Comparison shows no new object for it; this says where the bytes went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grown {
    /// Its class in the "after" snapshot.
    pub class: String,
    /// Where it is in the "after" snapshot.
    pub node: crate::snapshot::NodeIndex,
    pub before: u64,
    pub after: u64,
}

/// An object grew if it gained at least this many bytes…
pub const GROWN_MIN_BYTES: u64 = 4096;
/// …and is now at least this many times its size.
pub const GROWN_MIN_FACTOR: u64 = 2;

fn changes(base: &Census, current: &Census, classes: &Classes) -> Changes {
    Changes {
        new: new_objects(base, current, classes),
        grown: grown_objects(base, current, classes),
    }
}

/// The objects of both censuses (matched by id) that grew past the
/// thresholds, largest growth first.
fn grown_objects(base_census: &Census, current: &Census, classes: &Classes) -> Vec<Grown> {
    let base = &base_census.counted;
    let mut grown = Vec::new();
    let mut i = 0;
    for c in &current.counted {
        while i < base.len() && base[i].id < c.id {
            i += 1;
        }
        let Some(b) = base.get(i).filter(|b| b.id == c.id) else {
            continue;
        };
        let (before, after) = (base_census.size(b), current.size(c));
        if after >= before + GROWN_MIN_BYTES && after >= before * GROWN_MIN_FACTOR {
            grown.push(Grown {
                class: classes.name(c.class).to_owned(),
                node: c.node,
                before,
                after,
            });
        }
    }
    grown.sort_by(|a, b| {
        (b.after - b.before)
            .cmp(&(a.after - a.before))
            .then_with(|| a.class.cmp(&b.class))
    });
    grown
}

/// The objects of `current` that are not in `base` (or changed class), by
/// class name, in id order.
fn new_objects(base: &Census, current: &Census, classes: &Classes) -> NewObjects {
    let base = &base.counted;
    let mut by_class: Vec<Vec<crate::snapshot::NodeIndex>> = Vec::new();
    let mut i = 0;
    for c in &current.counted {
        while i < base.len() && base[i].id < c.id {
            i += 1;
        }
        let same = base
            .get(i)
            .is_some_and(|b| b.id == c.id && b.class == c.class);
        if !same {
            let k = c.class as usize;
            if by_class.len() <= k {
                by_class.resize_with(k + 1, Vec::new);
            }
            by_class[k].push(c.node);
        }
    }
    by_class
        .into_iter()
        .enumerate()
        .filter(|(_, nodes)| !nodes.is_empty())
        .map(|(k, nodes)| (classes.name(k as u32).to_owned(), nodes))
        .collect()
}

/// The comparison of a step's two checkpoints (`t.checkpoint`), as
/// [`compare_with_new`], leaving out the objects that exist at only one of
/// them and that only the running checkpoint holds (see [`held_across`]);
/// also which nodes of `after` the program holds.
pub fn compare_step(before: &Snapshot, after: &Snapshot) -> (Comparison, Changes, Vec<bool>) {
    compare_step_with((before, Table::of(before)), after)
}

/// [`compare_step`] with the "before" table already made: the "after"
/// table is made while the program's part of `after` is found, on two
/// threads (that reachability needs only the ids `before` counts).
pub fn compare_step_with(
    (before, before_table): (&Snapshot, Table),
    after: &Snapshot,
) -> (Comparison, Changes, Vec<bool>) {
    let (after_table, held_after) = std::thread::scope(|s| {
        let table = s.spawn(|| Table::of(after));
        let in_base = Ids::of_table(&before_table);
        let held = held_across(after, |id| in_base.contains(id));
        (table.join().expect("census thread"), held)
    });
    let held_before = {
        let in_current = Ids::of_table(&after_table);
        held_across(before, |id| in_current.contains(id))
    };
    let (classes, mut base, mut current) = resolved(before_table, after_table);
    base.counted.retain(|c| held_before[c.node as usize]);
    current.counted.retain(|c| held_after[c.node as usize]);
    let (comparison, changes) = compared(&base, &current, &classes);
    (comparison, changes, held_after)
}

/// [`compare_step`] with the tables of both snapshots already made.
pub fn compare_step_tables(
    (before, before_table): (&Snapshot, Table),
    (after, after_table): (&Snapshot, Table),
) -> (Comparison, Changes, Vec<bool>) {
    let (classes, mut base, mut current) = resolved(before_table, after_table);
    let (held_before, held_after) = std::thread::scope(|s| {
        let in_current = Ids::of(current.counted.iter().map(|c| c.id));
        let in_base = Ids::of(base.counted.iter().map(|c| c.id));
        let b = s.spawn(move || held_across(before, |id| in_current.contains(id)));
        let a = held_across(after, |id| in_base.contains(id));
        (b.join().expect("reachability thread"), a)
    });
    base.counted.retain(|c| held_before[c.node as usize]);
    current.counted.retain(|c| held_after[c.node as usize]);
    let (comparison, changes) = compared(&base, &current, &classes);
    (comparison, changes, held_after)
}

/// The comparison of two censuses, and what changed object by object: side
/// by side, as neither needs the other.
fn compared(base: &Census, current: &Census, classes: &Classes) -> (Comparison, Changes) {
    std::thread::scope(|s| {
        let changes = s.spawn(|| changes(base, current, classes));
        let comparison = compare_census(base, current, classes);
        (comparison, changes.join().expect("changes thread"))
    })
}

/// The ids of a census, as a set with constant-time lookups: one bit per
/// id up to the largest (V8's ids are 32-bit and dense).
struct Ids(Vec<u64>);

impl Ids {
    fn of(ids: impl Iterator<Item = u32> + Clone) -> Ids {
        let top = ids.clone().max().unwrap_or(0) as u64;
        let mut bits = vec![0u64; (top / 64 + 1) as usize];
        for id in ids {
            let id = id as u64;
            bits[(id / 64) as usize] |= 1 << (id % 64);
        }
        Ids(bits)
    }

    /// The ids a table counts (the same whatever its class names).
    fn of_table(table: &Table) -> Ids {
        Ids::of(table.ids())
    }

    fn contains(&self, id: u64) -> bool {
        self.0
            .get((id / 64) as usize)
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }
}

/// Both tables resolved, with the property-set names of `after` applied
/// to both.
fn resolved(before: Table, after: Table) -> (Classes, Census, Census) {
    let interfaces = after.interfaces();
    let mut classes = Classes::default();
    let base = before.resolve(&interfaces, &mut classes);
    let current = after.resolve(&interfaces, &mut classes);
    (classes, base, current)
}

/// New objects per class name, as node indices of the "after" snapshot.
pub type NewObjects = std::collections::HashMap<String, Vec<crate::snapshot::NodeIndex>>;

/// Merge two id-sorted censuses the way DevTools merges each class's ids.
pub fn compare_census(
    base_census: &Census,
    current_census: &Census,
    classes: &Classes,
) -> Comparison {
    let (base, current) = (&base_census.counted, &current_census.counted);
    #[derive(Default, Clone)]
    struct Row {
        new: u64,
        deleted: u64,
        alloc: u64,
        freed: u64,
    }
    let mut rows: Vec<Row> = Vec::new();
    let mut row = |class: u32| -> usize {
        let i = class as usize;
        if rows.len() <= i {
            rows.resize(i + 1, Row::default());
        }
        i
    };
    let added = |rows: &mut Vec<Row>, c: &Counted| {
        let r = &mut rows[c.class as usize];
        r.new += 1;
        r.alloc += current_census.size(c);
    };
    let removed = |rows: &mut Vec<Row>, c: &Counted| {
        let r = &mut rows[c.class as usize];
        r.deleted += 1;
        r.freed += base_census.size(c);
    };
    for c in base.iter().chain(current) {
        row(c.class);
    }
    let (mut i, mut j) = (0, 0);
    while i < base.len() || j < current.len() {
        match (base.get(i), current.get(j)) {
            (Some(b), Some(c)) if b.id == c.id => {
                // Same object; a changed class counts on both sides, as in a
                // per-class merge.
                if b.class != c.class {
                    removed(&mut rows, b);
                    added(&mut rows, c);
                }
                i += 1;
                j += 1;
            }
            (Some(b), Some(c)) if b.id < c.id => {
                removed(&mut rows, b);
                i += 1;
            }
            (Some(b), None) => {
                removed(&mut rows, b);
                i += 1;
            }
            (_, Some(c)) => {
                added(&mut rows, c);
                j += 1;
            }
            (None, None) => unreachable!(),
        }
    }

    let mut out = Comparison::default();
    for (class, r) in rows.iter().enumerate() {
        if r.new == 0 && r.deleted == 0 {
            continue;
        }
        out.retained_objects += r.new;
        out.retained_bytes += r.alloc;
        out.freed_objects += r.deleted;
        out.freed_bytes += r.freed;
        out.constructors.push(ConstructorDelta {
            name: classes.name(class as u32).to_owned(),
            new: r.new,
            deleted: r.deleted,
            delta: r.new as i64 - r.deleted as i64,
            alloc_size: r.alloc,
            freed_size: r.freed,
            size_delta: r.alloc as i64 - r.freed as i64,
        });
    }
    out.constructors.sort_by(|a, b| {
        b.alloc_size
            .cmp(&a.alloc_size)
            .then(b.size_delta.cmp(&a.size_delta))
            .then_with(|| a.name.cmp(&b.name))
    });
    out
}

#[cfg(test)]
mod tests;
