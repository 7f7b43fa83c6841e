//! The `--json` report: the run model, serialized as it is (see `model`).

use std::path::Path;

use anyhow::Context as _;

use super::RunReport;

/// Write the model to `path` as pretty-printed JSON.
pub fn write(report: &RunReport, path: &Path) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(report)?;
    std::fs::write(path, text + "\n")
        .with_context(|| format!("cannot write the JSON report to {}", path.display()))
}
