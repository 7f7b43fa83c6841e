//! Comparison tests on tiny hand-built snapshots.

use super::*;
use crate::snapshot::testing::snapshot;

fn row<'a>(c: &'a Comparison, name: &str) -> &'a ConstructorDelta {
    c.constructor(name)
        .unwrap_or_else(|| panic!("no {name} row in {c:?}"))
}

/// ```text
/// before: root ─▶ Widget#3, Widget#5
/// after:  root ─▶ Widget#5, Widget#7, Widget#9
/// ```
#[test]
fn objects_are_matched_by_id() {
    let before = snapshot(&[
        (
            "synthetic",
            "",
            1,
            0,
            &[("element", "1", 1), ("element", "2", 2)],
        ),
        ("object", "Widget", 3, 32, &[]),
        ("object", "Widget", 5, 32, &[]),
    ]);
    let after = snapshot(&[
        (
            "synthetic",
            "",
            1,
            0,
            &[
                ("element", "1", 1),
                ("element", "2", 2),
                ("element", "3", 3),
            ],
        ),
        ("object", "Widget", 5, 32, &[]),
        ("object", "Widget", 7, 40, &[]),
        ("object", "Widget", 9, 40, &[]),
    ]);
    let c = compare(&before, &after);
    assert_eq!(
        row(&c, "Widget"),
        &ConstructorDelta {
            name: "Widget".into(),
            new: 2,
            deleted: 1,
            delta: 1,
            alloc_size: 80,
            freed_size: 32,
            size_delta: 48
        }
    );
    assert_eq!(
        (
            c.retained_objects,
            c.retained_bytes,
            c.freed_objects,
            c.freed_bytes
        ),
        (2, 80, 1, 32)
    );
}

/// ```text
/// root ─▶ Array#3 ──(elements)──▶ (array)#5        one owner: folded
/// root ─▶ Thing#7 ─┬─▶ (array)#9 ◀─┬─ Thing#11    two owners: not folded
/// ```
#[test]
fn single_owner_arrays_fold_into_their_owner() {
    let before = snapshot(&[("synthetic", "", 1, 0, &[])]);
    let after = snapshot(&[
        (
            "synthetic",
            "",
            1,
            0,
            &[
                ("element", "1", 1),
                ("element", "2", 3),
                ("element", "3", 5),
            ],
        ),
        ("object", "Array", 3, 32, &[("internal", "elements", 2)]),
        ("array", "", 5, 100, &[]),
        ("object", "Thing", 7, 16, &[("internal", "shared", 4)]),
        ("array", "", 9, 50, &[]),
        ("object", "Thing", 11, 16, &[("internal", "shared", 4)]),
    ]);
    let c = compare(&before, &after);
    assert_eq!(row(&c, "Array").alloc_size, 132);
    assert_eq!(row(&c, "Thing").alloc_size, 32);
    assert!(c.constructor("(array)").is_none());
    assert_eq!(c.constructors[0].name, "Array", "sorted by allocated size");
}

/// ```text
/// root ─▶ code#3 ─▶ Object#5 (a literal's boilerplate)
///   ├───▶ (Stack roots)#7 ─▶ Object#9
///   ├───▶ Holder#11 ─▶ Object#13 ◀─ code#3
///   └───▶ hidden, object shape, number, native, synthetic, system / Context nodes
/// ```
#[test]
fn noise_is_not_counted() {
    let before = snapshot(&[("synthetic", "", 1, 0, &[])]);
    let after = snapshot(&[
        (
            "synthetic",
            "",
            1,
            0,
            &[
                ("element", "1", 1),
                ("element", "2", 3),
                ("element", "3", 5),
                ("element", "4", 7),
                ("element", "5", 8),
                ("element", "6", 9),
                ("element", "7", 10),
                ("element", "8", 11),
            ],
        ),
        (
            "code",
            "f",
            3,
            64,
            &[("internal", "boilerplate", 2), ("internal", "x", 6)],
        ),
        ("object", "Object", 5, 24, &[]),
        ("synthetic", "(Stack roots)", 7, 0, &[("internal", "0", 4)]),
        ("object", "Object", 9, 24, &[]),
        ("object", "Holder", 11, 16, &[("property", "x", 6)]),
        ("object", "Object", 13, 24, &[]),
        ("hidden", "h", 15, 8, &[]),
        ("object shape", "s", 17, 8, &[]),
        ("number", "n", 19, 16, &[]),
        ("native", "system / JSArrayBufferData", 21, 8, &[]),
        ("object", "system / Context", 23, 40, &[]),
    ]);
    let c = compare(&before, &after);
    let names: Vec<&str> = c.constructors.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["Object", "Holder"]);
    assert_eq!(
        row(&c, "Object").new,
        1,
        "only the object held by program state counts"
    );
}

/// ```text
/// root ─▶ {a,b}#3, {a,b}#5, {c}#7 (plain Objects)
///   └───▶ ArrayBuffer#9 ─▶ system / JSArrayBufferData#11 (1 KiB)
/// ```
#[test]
fn plain_objects_are_named_by_shared_property_sets_and_buffers_carry_their_store() {
    let before = snapshot(&[("synthetic", "", 1, 0, &[])]);
    let after = snapshot(&[
        (
            "synthetic",
            "",
            1,
            0,
            &[
                ("element", "1", 1),
                ("element", "2", 2),
                ("element", "3", 3),
                ("element", "4", 4),
            ],
        ),
        (
            "object",
            "Object",
            3,
            24,
            &[
                ("property", "a", 6),
                ("property", "b", 6),
                ("property", "__proto__", 6),
            ],
        ),
        (
            "object",
            "Object",
            5,
            24,
            &[("property", "a", 6), ("property", "b", 6)],
        ),
        ("object", "Object", 7, 24, &[("property", "c", 6)]),
        (
            "object",
            "ArrayBuffer",
            9,
            56,
            &[("internal", "backing_store", 5)],
        ),
        ("native", "system / JSArrayBufferData", 11, 1024, &[]),
        ("string", "v", 13, 16, &[]),
    ]);
    let c = compare(&before, &after);
    assert_eq!(row(&c, "{a, b}").new, 2);
    assert_eq!(
        row(&c, "Object").new,
        1,
        "a lone shape keeps its constructor name"
    );
    assert_eq!(row(&c, "ArrayBuffer").alloc_size, 1080);
    assert_eq!(row(&c, "(string)").new, 1);
}

#[test]
fn unchanged_classes_are_omitted() {
    let s = snapshot(&[
        ("synthetic", "", 1, 0, &[("element", "1", 1)]),
        ("object", "Widget", 3, 32, &[]),
    ]);
    assert_eq!(compare(&s, &s), Comparison::default());
}

/// Two checkpoints of a step, each taken from the harness's running
/// continuation (the current microtask) while the test awaits it; `+` marks
/// what exists at this checkpoint only. At the second, the call's frame
/// holds its label (a literal, held by code too) and the list a new Todo:
///
/// ```text
/// root ─▶ (Strong root list) ─current_microtask─▶ Job+ ─▶ closure+ ─▶ Context+
///   ─▶ Generator+ (the call) ─┬─▶ (array)+ ─▶ "add" ◀─ code#5
///                             └─▶ Promise+ ─▶ closure+ (the test's await)
///                                   ─▶ Generator#11 (the test) ─▶ TodoList#13 ─▶ Todo+
/// ```
fn checkpoint(call: u64, second: bool) -> crate::snapshot::Snapshot {
    let c = call;
    type Edges<'a> = &'a [(&'a str, &'a str, usize)];
    let (label, list): (Edges, Edges) = if second {
        (&[("hidden", "0", 11)], &[("property", "0", 13)])
    } else {
        (&[], &[])
    };
    let mut nodes = vec![
        (
            "synthetic",
            "",
            1,
            0,
            &[("element", "1", 1), ("element", "2", 2)][..],
        ),
        (
            "synthetic",
            "(Strong root list)",
            3,
            0,
            &[("internal", "current_microtask", 3)][..],
        ),
        ("code", "f", 5, 64, &[("internal", "x", 11)][..]),
        (
            "native",
            "system / PromiseFulfillReactionJobTask",
            c,
            40,
            &[("hidden", "3", 4)][..],
        ),
        ("closure", "", c + 2, 32, &[("internal", "context", 5)][..]),
        (
            "object",
            "system / Context",
            c + 4,
            40,
            &[("internal", "extension", 6)][..],
        ),
        (
            "object",
            "Generator",
            c + 6,
            48,
            &[
                ("internal", "parameters_and_registers", 7),
                ("internal", "promise", 8),
            ][..],
        ),
        ("array", "", c + 8, 16, label),
        (
            "object",
            "Promise",
            c + 10,
            32,
            &[("internal", "reactions", 9)][..],
        ),
        (
            "closure",
            "",
            c + 12,
            32,
            &[("internal", "context", 10)][..],
        ),
        (
            "object",
            "Generator",
            11,
            48,
            &[("property", "list", 12)][..],
        ),
        ("string", "add", 9, 24, &[][..]),
        ("object", "TodoList", 13, 32, list),
    ];
    if second {
        nodes.push(("object", "Todo", c + 14, 40, &[][..]));
    }
    snapshot(&nodes)
}
#[test]
fn a_step_leaves_out_what_only_the_running_checkpoint_holds() {
    let before = checkpoint(101, false);
    let after = checkpoint(201, true);
    // Without the step's rule, the harness's call shows, and the literal
    // its frame holds counts as new.
    let plain = compare(&before, &after);
    for name in ["Generator", "Promise", "Function", "(string)"] {
        assert!(plain.constructor(name).is_some(), "{name}: {plain:?}");
    }
    let (step, changes, _) = compare_step(&before, &after);
    let names: Vec<&str> = step.constructors.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["Todo"], "{step:?}");
    assert_eq!((row(&step, "Todo").new, row(&step, "Todo").deleted), (1, 0));
    assert_eq!(changes.new.keys().collect::<Vec<_>>(), ["Todo"]);
    // And an empty step is empty.
    let (empty, ..) = compare_step(&checkpoint(101, false), &checkpoint(301, false));
    assert_eq!(empty, Comparison::default());
}

/// Objects alive at both snapshots that grew: a dictionary whose backing
/// store (folded into it, as the census does) went from 200 B to 48 KiB is
/// listed; one that gained 1 KiB, or 5 KiB on 20 KiB, is not. The rows do
/// not change: growth in place is an explanation, not a figure.
///
/// ```text
/// before: root ─▶ Dict#3 (24 B) ─(properties)─▶ (array)#5 (176 B)
///         root ─▶ Small#7 (1 KiB), Big#9 (20 KiB)
/// after:  root ─▶ Dict#3 (24 B) ─(properties)─▶ (array)#11 (48 KiB)
///         root ─▶ Small#7 (2 KiB), Big#9 (25 KiB)
/// ```
#[test]
fn objects_that_grew_in_place_are_found_without_changing_figures() {
    let side = |table: (u64, u64), small: u64, big: u64| {
        snapshot(&[
            (
                "synthetic",
                "",
                1,
                0,
                &[
                    ("element", "1", 1),
                    ("element", "2", 3),
                    ("element", "3", 4),
                ],
            ),
            ("object", "Dict", 3, 24, &[("internal", "properties", 2)]),
            ("array", "(object properties)", table.0, table.1, &[]),
            ("object", "Small", 7, small, &[]),
            ("object", "Big", 9, big, &[]),
        ])
    };
    let before = side((5, 176), 1024, 20 * 1024);
    let after = side((11, 48 * 1024), 2048, 25 * 1024);
    let (comparison, changes) = compare_with_new(&before, &after);
    assert_eq!(comparison, Comparison::default());
    assert_eq!(
        changes.grown,
        [Grown {
            class: "Dict".into(),
            node: 1,
            before: 200,
            after: 24 + 48 * 1024,
        }]
    );
    assert!(changes.new.is_empty());
}

/// A census keeps sizes in 4 bytes: one of 4 GiB and more (a huge
/// backing store folded into its buffer) goes to a side map, and the rows
/// still carry it whole; a block's comparison by tables alone is the one
/// of the two snapshots.
///
/// ```text
/// after: root ─▶ ArrayBuffer#3 (64 B) ─▶ system / JSArrayBufferData#5 (5 GiB)
/// ```
#[test]
fn sizes_of_4_gib_and_more_count_whole() {
    let before = snapshot(&[("synthetic", "", 1, 0, &[])]);
    let after = snapshot(&[
        ("synthetic", "", 1, 0, &[("element", "1", 1)]),
        (
            "object",
            "ArrayBuffer",
            3,
            64,
            &[("internal", "backing_store", 2)],
        ),
        ("native", "system / JSArrayBufferData", 5, 5 << 30, &[]),
    ]);
    let c = compare(&before, &after);
    assert_eq!(row(&c, "ArrayBuffer").alloc_size, 64 + (5 << 30));
    let by_tables = compare_tables(Table::of(&before), Table::of(&after));
    assert_eq!(by_tables, c);
}
