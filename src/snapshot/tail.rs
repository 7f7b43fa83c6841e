//! The `strings` array of a snapshot file, read while the second reader
//! (see `ahead`) is still in `edges`. The parser has read `nodes` by then
//! and would otherwise wait for it. V8 writes `strings` last, so its key
//! is found by searching back from the end of the file.
//!
//! Which strings the parser keeps (the names the graph uses) is also
//! worked out on another thread, while the parser reads on from `edges`.
//!
//! As with the second reader, what is read here is only taken when the
//! parser, reading on, meets the key at the same offset; otherwise the
//! parser reads the array itself, and reports it as it always has.

use std::io::Read;
use std::thread::JoinHandle;

use super::ahead::Source;
use super::parse::{Graph, graph_names, read_strings};
use super::reader::Parser;
use super::{Snapshot, Strings};

const KEY: &[u8] = b"\"strings\"";
/// How much of the file each step of the search reads.
const CHUNK: u64 = 1 << 20;
/// The most of a file read here: an eighth of it, but at least `LEAST`
/// and at most `MOST`. All of the array is held until the parser keeps the
/// strings it needs, so a file of mostly string contents is left to the
/// parser, which keeps only those as it reads.
const LEAST: u64 = 1 << 20;
const MOST: u64 = 32 << 20;

/// Every string of the array, and where it was found.
pub(super) struct Tail {
    pub strings: Strings,
    /// Offset of the array, just past the key's `:`.
    pub value_at: u64,
    /// Offset just past the array's `]`.
    pub end: u64,
}

/// Read the array of the last `"strings"` key after offset `from`; None
/// where the source cannot be read at offsets or anything is unexpected.
pub(super) fn read_tail<S: Source>(source: &S, from: u64) -> Option<Tail> {
    let len = source.len()?;
    let most = (len / 8).clamp(LEAST, MOST).min(len);
    let key = find_key(source, from.max(len - most), CHUNK)?;
    let mut p = Parser::at(source.fork(key)?.take(most), key);
    if p.string("").ok()? != "strings" || p.next_non_ws("").ok()? != b':' {
        return None;
    }
    let value_at = p.offset();
    let mut strings = Strings::default();
    read_strings(&mut p, &mut strings, None).ok()?;
    Some(Tail {
        strings,
        value_at,
        end: p.offset(),
    })
}

/// Offset of the last `"strings"` after `from` that reads as a key: a
/// colon follows it (the text may also be one of the strings, a
/// property's name). Searched `chunk` bytes at a time back from the end,
/// each byte read once.
fn find_key<S: Source>(source: &S, from: u64, chunk: u64) -> Option<u64> {
    let len = source.len()?;
    let mut buf = Vec::new();
    let mut end = len;
    while end > from {
        let start = end.saturating_sub(chunk).max(from);
        // Each step reads a little past the last one's start, for a key
        // that straddles the two.
        let stop = end.saturating_add(KEY.len() as u64 - 1).min(len);
        buf.resize(usize::try_from(stop - start).ok()?, 0);
        source.fork(start)?.read_exact(&mut buf).ok()?;
        for i in memchr::memmem::rfind_iter(&buf, KEY) {
            let after = start + (i + KEY.len()) as u64;
            let next = match buf[i + KEY.len()..]
                .iter()
                .find(|b| !b.is_ascii_whitespace())
            {
                Some(&b) => b,
                None => next_byte(source, after)?,
            };
            if next == b':' {
                return Some(start + i as u64);
            }
        }
        end = start;
    }
    None
}

/// The first byte at or after `at` that is not whitespace.
fn next_byte<S: Source>(source: &S, at: u64) -> Option<u8> {
    let mut bytes = std::io::BufReader::new(source.fork(at)?).bytes();
    loop {
        match bytes.next()?.ok()? {
            b if b.is_ascii_whitespace() => continue,
            b => return Some(b),
        }
    }
}

/// The strings the graph names, worked out on another thread. It holds the
/// columns it reads until joined.
pub(super) struct Naming(JoinHandle<(Columns, Vec<bool>)>);

/// A snapshot's columns, lent to the thread.
struct Columns {
    types: (Vec<String>, Vec<String>),
    node_type: Vec<u8>,
    node_name: Vec<u32>,
    edge_type: Vec<u8>,
    edge_name: Vec<u32>,
}

impl Naming {
    /// Take the columns of `snap` and start.
    pub fn start(snap: &mut Snapshot) -> Naming {
        let c = Columns {
            types: (snap.node_types.clone(), snap.edge_types.clone()),
            node_type: std::mem::take(&mut snap.node_type),
            node_name: std::mem::take(&mut snap.node_name),
            edge_type: std::mem::take(&mut snap.edge_type),
            edge_name: std::mem::take(&mut snap.edge_name),
        };
        Naming(std::thread::spawn(move || {
            let needed = graph_names(&Graph {
                node_types: &c.types.0,
                edge_types: &c.types.1,
                node_type: &c.node_type,
                node_name: &c.node_name,
                edge_type: &c.edge_type,
                edge_name: &c.edge_name,
            });
            (c, needed)
        }))
    }

    /// Put the columns back into `snap`; which strings they name.
    pub fn join(self, snap: &mut Snapshot) -> Vec<bool> {
        let (c, needed) = self.0.join().expect("the naming thread");
        snap.node_type = c.node_type;
        snap.node_name = c.node_name;
        snap.edge_type = c.edge_type;
        snap.edge_name = c.edge_name;
        needed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::ahead::FileSource;

    fn source(text: &str) -> FileSource {
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, text.as_bytes()).unwrap();
        FileSource(file)
    }

    /// The search finds the last key wherever it falls: within a step,
    /// across two, or at the very start of the range searched; a value
    /// `"strings"` is not a key.
    #[test]
    fn the_last_key_is_found_across_steps() {
        let text = r#"{"strings":["a"],"x":"\"strings\"","strings" :["strings"],"y":"strings"}"#;
        let last = text.rfind(r#""strings" :"#).unwrap() as u64;
        for chunk in 1..=text.len() as u64 {
            let s = source(text);
            assert_eq!(find_key(&s, 0, chunk), Some(last), "chunk {chunk}");
            assert_eq!(find_key(&s, last, chunk), Some(last), "chunk {chunk}");
            assert_eq!(find_key(&s, last + 1, chunk), None, "chunk {chunk}");
        }
    }

    /// A string `strings` in the array, or a value that reads so, is
    /// passed over for the key before it.
    #[test]
    fn the_key_is_the_text_a_colon_follows() {
        let text = r#"{"nodes":[],"strings":["", "strings", "x"], "y": "strings"}"#;
        let tail = read_tail(&source(text), 0).expect("a tail");
        let got: Vec<&str> = (0..3).map(|i| tail.strings.get(i)).collect();
        assert_eq!(got, ["", "strings", "x"]);
        assert_eq!(&text[tail.end as usize..], r#", "y": "strings"}"#);
    }

    #[test]
    fn the_array_is_read_whole_with_where_it_lies() {
        let text = r#"{"nodes":[],"strings" : ["", "a\u0041", "b"]}"#;
        let tail = read_tail(&source(text), 0).expect("a tail");
        assert_eq!(
            &text[..tail.value_at as usize],
            r#"{"nodes":[],"strings" :"#
        );
        assert_eq!(&text[tail.end as usize..], "}");
        let got: Vec<&str> = (0..3).map(|i| tail.strings.get(i)).collect();
        assert_eq!(got, ["", "aA", "b"]);
    }

    /// A file whose strings are more than an eighth of it (and than the
    /// least read), a cut array,
    /// or a key that is not followed by an array, is left to the parser.
    #[test]
    fn anything_unexpected_or_too_large_is_left_to_the_parser() {
        let padding = "0,".repeat(100);
        for text in [
            format!(
                r#"{{"nodes":[{padding}0],"strings":["{}"]}}"#,
                "x".repeat(1 << 20)
            ),
            format!(r#"{{"nodes":[{padding}0],"strings":["a","#),
            format!(r#"{{"nodes":[{padding}0],"strings":1}}"#),
            format!(r#"{{"nodes":[{padding}0],"strings"]}}"#),
        ] {
            assert!(read_tail(&source(&text), 0).is_none(), "{text}");
        }
    }
}
