//! Original lines for transpiled files. V8 reports positions in the code it
//! ran; for TypeScript and JSX that is the JavaScript Deno emitted into its
//! cache (`DENO_DIR/gen/file/<path>.js`), which carries an inline source
//! map. This reads those maps, so that an allocation site names the line
//! of the `.ts` or `.tsx` the user wrote.
//!
//! In the page, esbuild's outputs are kept the same way (see
//! `runtime::chromium::transpile`), and places are URLs of the page's
//! origin until [`SourceMaps::with_origin`] says where that is on disk.
//!
//! The decoder is written here (a source map's `mappings` is a short,
//! stable format) rather than taken from the `sourcemap` crate, whose
//! dependencies (`url`, ICU tables) outweigh it many times over.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine as _;

/// Extensions whose files Deno transpiles before running them.
const TRANSPILED: [&str; 5] = [".ts", ".tsx", ".mts", ".cts", ".jsx"];

/// One mapping: a generated column and the original line and column it
/// comes from (all 0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Segment {
    column: u32,
    line: u32,
    source_column: u32,
}

/// A decoded map: segments per generated line, by column.
#[derive(Debug, Default)]
struct Decoded {
    lines: Vec<Vec<Segment>>,
}

/// The source maps of one Deno cache, read on first use.
#[derive(Debug)]
pub struct SourceMaps {
    /// `None`: the engine runs what was written (Node strips types in
    /// place, so its positions are the file's own).
    gen_dir: Option<PathBuf>,
    /// A URL prefix standing for a `file://` one (the page's origin for
    /// the project's root).
    origin: Option<(String, String)>,
    read: Mutex<HashMap<String, Option<Arc<Decoded>>>>,
}

impl SourceMaps {
    pub fn new(deno_dir: &Path) -> SourceMaps {
        SourceMaps {
            gen_dir: Some(deno_dir.join("gen")),
            origin: None,
            read: Mutex::new(HashMap::new()),
        }
    }

    /// Maps that map nothing.
    pub fn none() -> SourceMaps {
        SourceMaps {
            gen_dir: None,
            origin: None,
            read: Mutex::new(HashMap::new()),
        }
    }

    /// These maps, reading URLs under `prefix` as under `file_prefix`.
    pub fn with_origin(mut self, prefix: &str, file_prefix: &str) -> SourceMaps {
        self.origin = Some((prefix.to_owned(), file_prefix.to_owned()));
        self
    }

    /// The original 1-based line and column of a 1-based position in the
    /// script at `url`, when the script was transpiled; `None` otherwise.
    pub fn original(&self, url: &str, line: u32, column: u32) -> Option<(u32, u32)> {
        let decoded = self.decoded(url)?;
        let segments = decoded.lines.get(line.checked_sub(1)? as usize)?;
        let col = column.saturating_sub(1);
        let i = segments.partition_point(|s| s.column <= col);
        let s = segments
            .get(i.checked_sub(1)?)
            .or_else(|| segments.first())?;
        Some((s.line + 1, s.source_column + 1))
    }

    fn decoded(&self, url: &str) -> Option<Arc<Decoded>> {
        let gen_dir = self.gen_dir.as_ref()?;
        let url = match &self.origin {
            Some((prefix, file)) if url.starts_with(prefix.as_str()) => {
                std::borrow::Cow::Owned(format!("{file}{}", &url[prefix.len()..]))
            }
            _ => std::borrow::Cow::Borrowed(url),
        };
        let path = url.strip_prefix("file://")?;
        let path = path.split('?').next()?;
        // Text a test prints may name any path: never read outside gen/.
        if !TRANSPILED.iter().any(|e| path.ends_with(e))
            || crate::text::percent_decode(path)
                .split('/')
                .any(|p| p == "..")
        {
            return None;
        }
        let mut read = self.read.lock().unwrap_or_else(|e| e.into_inner());
        read.entry(path.to_owned())
            .or_insert_with(|| {
                let emitted = gen_dir.join(format!("file{}.js", crate::text::percent_decode(path)));
                let text = std::fs::read_to_string(emitted).ok()?;
                inline_map(&text).map(Arc::new)
            })
            .clone()
    }
}

/// The source map inlined at the end of emitted code.
fn inline_map(emitted: &str) -> Option<Decoded> {
    const MARK: &str = "//# sourceMappingURL=data:application/json;base64,";
    let start = emitted.rfind(MARK)? + MARK.len();
    let b64 = emitted[start..].split_whitespace().next()?;
    let json = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let map: serde_json::Value = serde_json::from_slice(&json).ok()?;
    decode(map.get("mappings")?.as_str()?)
}

/// Decode a `mappings` string (base64 VLQ, `;` between generated lines,
/// `,` between segments; fields are deltas).
fn decode(mappings: &str) -> Option<Decoded> {
    let mut out = Decoded::default();
    // Fields: generated column, source index (unused: Deno's maps name one
    // source), original line, original column.
    let (mut line, mut column) = (0i64, 0i64);
    for text in mappings.split(';') {
        let mut segments = Vec::new();
        let mut generated = 0i64;
        for seg in text.split(',').filter(|s| !s.is_empty()) {
            let fields = vlq(seg)?;
            generated += *fields.first()?;
            if fields.len() >= 4 {
                line += fields[2];
                column += fields[3];
                segments.push(Segment {
                    column: u32::try_from(generated).ok()?,
                    line: u32::try_from(line).ok()?,
                    source_column: u32::try_from(column).ok()?,
                });
            }
        }
        segments.sort_by_key(|s| s.column);
        out.lines.push(segments);
    }
    Some(out)
}

/// The signed numbers of one VLQ segment.
fn vlq(segment: &str) -> Option<Vec<i64>> {
    let mut out = Vec::new();
    let (mut value, mut shift) = (0i64, 0u32);
    for c in segment.bytes() {
        let digit = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as i64;
        value += (digit & 31) << shift;
        if digit & 32 == 0 {
            let magnitude = value >> 1;
            out.push(if value & 1 == 1 {
                -magnitude
            } else {
                magnitude
            });
            value = 0;
            shift = 0;
        } else {
            shift += 5;
            if shift > 60 {
                return None;
            }
        }
    }
    (shift == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vlq_values_decode() {
        assert_eq!(vlq("AAAA"), Some(vec![0, 0, 0, 0]));
        assert_eq!(vlq("AACA"), Some(vec![0, 0, 1, 0]));
        assert_eq!(vlq("D"), Some(vec![-1]));
        assert_eq!(vlq("gB"), Some(vec![16]));
        assert_eq!(vlq("g"), None, "a cut segment");
        assert_eq!(vlq("!"), None);
    }

    /// A map where generated line 1 is original line 1, and generated
    /// line 2 (columns 0 and 4) comes from original line 9 (columns 2, 8).
    #[test]
    fn positions_map_to_the_original_line() {
        // Line 1: [0,0,0,0]; line 2: [0,0,+8,+2], [+4,0,0,+6].
        let decoded = decode("AAAA;AAQE,IAAM").unwrap();
        assert_eq!(
            decoded.lines[1],
            [
                Segment {
                    column: 0,
                    line: 8,
                    source_column: 2
                },
                Segment {
                    column: 4,
                    line: 8,
                    source_column: 8
                }
            ]
        );
        let dir = std::env::temp_dir().join(format!("memcheck-maps-{}", std::process::id()));
        let emitted = dir.join("gen/file/p/a b.ts.js");
        std::fs::create_dir_all(emitted.parent().unwrap()).unwrap();
        let json = r#"{"version":3,"sources":["file:///p/a b.ts"],"mappings":"AAAA;AAQE,IAAM"}"#;
        let b64 = base64::engine::general_purpose::STANDARD.encode(json);
        std::fs::write(
            &emitted,
            format!("a;\nb;\n//# sourceMappingURL=data:application/json;base64,{b64}\n"),
        )
        .unwrap();
        let maps = SourceMaps::new(&dir);
        assert_eq!(maps.original("file:///p/a%20b.ts", 2, 6), Some((9, 9)));
        assert_eq!(
            maps.original("file:///p/a%20b.ts?memcheck-job=3", 2, 1),
            Some((9, 3))
        );
        assert_eq!(
            maps.original("file:///p/a b.js", 2, 1),
            None,
            "JavaScript runs as written"
        );
        assert_eq!(maps.original("file:///p/a%20b.ts", 7, 1), None);
        let outside = format!(
            "file://{}{}/gen/file/p/a%20b.ts",
            "/..".repeat(12),
            dir.display()
        );
        assert_eq!(
            maps.original(&outside, 2, 6),
            None,
            "no climbing out of gen/"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
