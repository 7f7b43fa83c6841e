//! The self-contained HTML report (`--html PATH`): one page that shows, step
//! by step, what a test did to the heap, as DevTools' Comparison view does,
//! next to the source that allocated it.
//!
//! This module owns the view model ([`Page`], in `model`), the builders that
//! make it from a run or a `diff` (`build`), and the renderer ([`render`]),
//! which writes one document: the model as JSON in a
//! `<script type="application/json">`, and the page's CSS and JavaScript
//! (`page.css`; `page.js`, `steps.js`, `compare.js`, `source.js`, `live.js`,
//! `main.js`;
//! embedded in the binary) inline. A strict
//! Content-Security-Policy forbids every request, so the page works from
//! `file://`, offline, and cannot leak what it shows.

mod build;
mod model;

pub use build::{Compared, Place, TRACE_HINT, from_diff, from_report, relative_path};
pub use model::*;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::report::RunReport;

const TEMPLATE: &str = include_str!("page.html");
const CSS: &str = include_str!("page.css");
/// The page's script, in parts that share one scope, in this order.
const SCRIPTS: [&str; 6] = [
    include_str!("page.js"),
    include_str!("steps.js"),
    include_str!("compare.js"),
    include_str!("source.js"),
    include_str!("live.js"),
    include_str!("main.js"),
];

/// The HTML report could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the HTML report to {}: {error}", path.display())]
pub struct HtmlError {
    pub path: PathBuf,
    pub error: std::io::Error,
}

/// The page as one self-contained HTML document.
pub fn render(page: &Page) -> String {
    render_with(page, None)
}

/// What the live page of `cargo memcheck watch` needs besides its data:
/// the session's token, sent with Accept and Reject.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Live {
    pub token: String,
}

/// The page, static (`live` None: no request at all) or live: the same
/// document, whose policy then lets it talk to the server it came from
/// (the stream of runs, Accept and Reject) and nothing else.
pub fn render_with(page: &Page, live: Option<&Live>) -> String {
    let data = serde_json::to_string(page).expect("the page model serializes");
    let live_data = serde_json::to_string(&live).expect("the live settings serialize");
    let js = script();
    let connect = if live.is_some() {
        "; connect-src 'self'"
    } else {
        ""
    };
    fill(
        TEMPLATE,
        &[
            ("title", &escape_html(&page.title)),
            ("generated_by", &escape_html(&page.generated_by)),
            ("script_hash", &script_hash(&js)),
            ("connect", connect),
            ("css", CSS),
            ("data", &escape_script_data(&data)),
            ("live", &escape_script_data(&live_data)),
            ("js", &js),
        ],
    )
}

/// Write `page` to `path`.
pub fn write(page: &Page, path: &Path) -> Result<(), HtmlError> {
    std::fs::write(path, render(page)).map_err(|error| HtmlError {
        path: path.to_path_buf(),
        error,
    })
}

/// Write the page of a run to `path`: `root` is the project root, which
/// the report's file names are relative to.
pub fn write_run(report: &RunReport, root: &Path, path: &Path) -> Result<(), HtmlError> {
    let page_dir = path.parent().unwrap_or(Path::new(""));
    write(&from_report(report, &Place { root, page_dir }), path)
}

/// The page's script: its parts in one strict-mode function, so that they
/// share a scope and leave the global one alone.
fn script() -> String {
    format!("(() => {{\n\"use strict\";\n{}}})();\n", SCRIPTS.join("\n"))
}

/// The template with each `{{name}}` replaced, in one pass (a value that
/// contains `{{…}}` is not expanded again).
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out =
        String::with_capacity(template.len() + values.iter().map(|v| v.1.len()).sum::<usize>());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let value = after
            .find("}}")
            .and_then(|end| values.iter().find(|(k, _)| *k == &after[..end]));
        match value {
            Some((key, value)) => {
                out.push_str(value);
                rest = &after[key.len() + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// JSON made safe inside `<script>`: no `<` at all, so neither `</script>`
/// nor `<!--` can appear; `JSON.parse` reads `\u003c` back as `<`.
fn escape_script_data(json: &str) -> String {
    json.replace('<', "\\u003c")
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The CSP source that allows exactly this inline script: `'sha256-…'`.
fn script_hash(script: &str) -> String {
    format!("'sha256-{}'", base64(&Sha256::digest(script.as_bytes())))
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
