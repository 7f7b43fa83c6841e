//! Budgets: absolute limits written on a test or a block, which no
//! `--update` can bless.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::diff::Comparison;
use crate::units::{Bytes, format_bytes};

/// `{ retained?: bytes, objects?: count, constructors?: { name: count } }`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    pub retained: Option<Bytes>,
    pub objects: Option<u64>,
    #[serde(default)]
    pub constructors: BTreeMap<String, u64>,
    /// Bytes allocated during the block, garbage included.
    pub allocated: Option<Bytes>,
}

impl Budget {
    /// Read a budget as the harness sent it (JSON from the test file).
    pub fn from_json(value: &serde_json::Value) -> Result<Budget, String> {
        Budget::deserialize(value).map_err(|e| {
            // serde's words for a count that is not one.
            let e = e.to_string().replace(
                ", expected u64",
                ": a count is a whole number, 0 or more",
            );
            format!("invalid budget {value}: {e}; write e.g. {{ retained: \"256 KiB\", objects: 1000, constructors: {{ Widget: 10 }} }}")
        })
    }

    /// The lines that say how `c` breaks this budget; empty when it fits.
    pub fn violations(&self, c: &Comparison, allocated: Option<u64>) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(Bytes(limit)) = self.allocated {
            match allocated {
                Some(a) if a > limit => out.push(format!(
                    "budget: allocated {} ({a} B) > {} ({limit} B)",
                    format_bytes(a),
                    format_bytes(limit)
                )),
                Some(_) => {}
                None => out.push(
                    "budget: `allocated` needs the test to measure it: write `allocated: true` or the budget on the test, not only on a block".into(),
                ),
            }
        }
        if let Some(Bytes(limit)) = self.retained
            && c.retained_bytes > limit
        {
            out.push(format!(
                "budget: retained {} ({} B) > {} ({} B)",
                format_bytes(c.retained_bytes),
                c.retained_bytes,
                format_bytes(limit),
                limit
            ));
        }
        if let Some(limit) = self.objects
            && c.retained_objects > limit
        {
            out.push(format!(
                "budget: {} retained objects > {limit}",
                c.retained_objects
            ));
        }
        for (name, &limit) in &self.constructors {
            let new = c.constructor(name).map_or(0, |r| r.new);
            if new > limit {
                out.push(format!("budget: {name} new {new} > {limit}"));
            }
        }
        out
    }

    /// The constructors whose own limit `c` breaks.
    pub fn broken_constructors(&self, c: &Comparison) -> Vec<String> {
        self.constructors
            .iter()
            .filter(|(name, limit)| c.constructor(name).is_some_and(|r| r.new > **limit))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The budget as one line, for reports.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(Bytes(b)) = self.retained {
            parts.push(format!("retained <= {}", format_bytes(b)));
        }
        if let Some(o) = self.objects {
            parts.push(format!("objects <= {o}"));
        }
        if let Some(Bytes(b)) = self.allocated {
            parts.push(format!("allocated <= {}", format_bytes(b)));
        }
        for (name, n) in &self.constructors {
            parts.push(format!("{name} <= {n}"));
        }
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::ConstructorDelta;

    fn comparison() -> Comparison {
        Comparison {
            retained_bytes: 32_000,
            retained_objects: 1000,
            freed_bytes: 0,
            freed_objects: 0,
            constructors: vec![ConstructorDelta {
                name: "Widget".into(),
                new: 1000,
                deleted: 0,
                delta: 1000,
                alloc_size: 32_000,
                freed_size: 0,
                size_delta: 32_000,
            }],
        }
    }

    #[test]
    fn parses_units_and_checks_each_limit() {
        let b = Budget::from_json(&serde_json::json!({
            "retained": "16 KiB", "objects": 2000, "constructors": { "Widget": 999, "Other": 0 }
        }))
        .unwrap();
        assert_eq!(b.retained, Some(Bytes(16 * 1024)));
        let v = b.violations(&comparison(), None);
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(v[0].starts_with("budget: retained 31.25 KiB"), "{v:?}");
        assert_eq!(v[1], "budget: Widget new 1000 > 999");
    }

    #[test]
    fn rejects_unknown_keys_and_units() {
        assert!(
            Budget::from_json(&serde_json::json!({ "retain": 1 }))
                .unwrap_err()
                .contains("retain")
        );
        assert!(
            Budget::from_json(&serde_json::json!({ "retained": "1 furlong" }))
                .unwrap_err()
                .contains("furlong")
        );
        let e = Budget::from_json(&serde_json::json!({ "objects": -1 })).unwrap_err();
        assert!(
            e.contains("`-1`: a count is a whole number, 0 or more"),
            "{e}"
        );
    }
}
