//! The frames the harness writes on stdout, and the messages inside them.
//!
//! A frame is a header line `"\x1eMC1 <kind> <len>\n"` and `<len>` bytes:
//! `json` frames carry a [`Message`], `chunk` frames a piece of the heap
//! snapshot being sent. Bytes outside frames are the test's own output.

use std::io::{BufRead, Read};

use serde::Deserialize;

const MAGIC: &[u8] = b"\x1eMC1 ";

/// What the harness says, in order.
#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    Runtime(RuntimeInfo),
    Tests {
        tests: Vec<ListedTest>,
    },
    LoadError {
        message: String,
        stack: String,
    },
    Block {
        name: String,
        budget: Option<serde_json::Value>,
        /// Measured runs of a `repeat` block (0: a plain block).
        #[serde(default)]
        repeat: u32,
    },
    BlockEnd {
        name: String,
    },
    Snapshot {
        label: String,
    },
    SnapshotEnd {
        label: String,
    },
    WholeBefore,
    /// Bytes allocated by the current block, garbage included.
    Allocated {
        bytes: u64,
    },
    WholeAfter {
        name: String,
    },
    Passed,
    Error {
        message: String,
        stack: String,
    },
    Fatal {
        message: String,
    },
}

/// The runtime that ran the tests.
#[derive(Debug, Deserialize, Clone, PartialEq, Eq, serde::Serialize, Default)]
pub struct RuntimeInfo {
    pub name: String,
    pub version: String,
    pub v8: String,
}

/// A test as declared in its file.
#[derive(Debug, Deserialize, Clone, PartialEq)]
pub struct ListedTest {
    pub name: String,
    pub line: Option<u32>,
    #[serde(default)]
    pub ignore: bool,
    /// The test measures allocated bytes (needs `--allow-sys`).
    #[serde(default)]
    pub allocated: bool,
    pub timeout: Option<serde_json::Value>,
    pub budget: Option<serde_json::Value>,
}

/// One unit read from the harness's stdout.
#[derive(Debug)]
pub enum Frame {
    Message(Message),
    Chunk(Vec<u8>),
    /// Bytes the test wrote to stdout itself.
    Output(Vec<u8>),
    /// A frame that could not be understood.
    Garbled(String),
}

/// Read frames from `reader` until it ends, passing each to `sink`; stops
/// early when `sink` returns false.
pub fn read_frames(reader: impl Read, mut sink: impl FnMut(Frame) -> bool) -> std::io::Result<()> {
    let mut r = std::io::BufReader::with_capacity(1 << 20, reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let Some(start) = find(&line, MAGIC) else {
            if !sink(Frame::Output(line.clone())) {
                return Ok(());
            }
            continue;
        };
        if start > 0 && !sink(Frame::Output(line[..start].to_vec())) {
            return Ok(());
        }
        let header = String::from_utf8_lossy(&line[start + MAGIC.len()..])
            .trim_end()
            .to_owned();
        let mut parts = header.split(' ');
        let (kind, len) = (
            parts.next().unwrap_or(""),
            parts.next().and_then(|l| l.parse::<usize>().ok()),
        );
        let Some(len) = len else {
            if !sink(Frame::Garbled(format!("bad frame header `{header}`"))) {
                return Ok(());
            }
            continue;
        };
        let mut payload = vec![0; len];
        r.read_exact(&mut payload)?;
        let frame = match kind {
            "chunk" => Frame::Chunk(payload),
            "json" => match serde_json::from_slice(&payload) {
                Ok(m) => Frame::Message(m),
                Err(e) => Frame::Garbled(format!(
                    "bad message {}: {e}",
                    String::from_utf8_lossy(&payload)
                )),
            },
            other => Frame::Garbled(format!("unknown frame kind `{other}`")),
        };
        if !sink(frame) {
            return Ok(());
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_stray_output() {
        let mut input = Vec::new();
        input.extend_from_slice(b"hello\n");
        let msg = br#"{"type":"passed"}"#;
        input.extend_from_slice(format!("\x1eMC1 json {}\n", msg.len()).as_bytes());
        input.extend_from_slice(msg);
        input.extend_from_slice(b"\x1eMC1 chunk 3\nab\n");
        let mut seen = Vec::new();
        read_frames(&input[..], |f| {
            seen.push(format!("{f:?}"));
            true
        })
        .unwrap();
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert!(seen[0].starts_with("Output"));
        assert_eq!(seen[1], "Message(Passed)");
        assert_eq!(seen[2], format!("{:?}", Frame::Chunk(b"ab\n".to_vec())));
    }
}
