//! What a test printed: the runtime's stdout and stderr share one pipe, so
//! lines keep their order, and the capture keeps the head and the tail and
//! counts what it dropped between them, so a test printing 100 MB costs the
//! runner a bounded amount of memory and the report a readable amount.

use std::io::Read;

/// The line the harness writes where a test's output starts, when one
/// process runs several tests (`isolation = "file"`).
pub const MARK: &[u8] = b"\x1e[memcheck: next test]\n";

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Bytes kept from the start and from the end of a test's output.
pub const KEEP_HEAD: usize = 32 << 10;
pub const KEEP_TAIL: usize = 32 << 10;

/// A bounded capture of a stream.
#[derive(Debug, Default, Clone)]
pub struct Captured {
    head: Vec<u8>,
    /// A ring of the last bytes once the head is full.
    tail: Vec<u8>,
    tail_start: usize,
    total: u64,
}

impl Captured {
    pub fn push(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len() as u64;
        if self.head.len() < KEEP_HEAD {
            let n = bytes.len().min(KEEP_HEAD - self.head.len());
            self.head.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
        }
        if bytes.len() >= KEEP_TAIL {
            self.tail.clear();
            self.tail
                .extend_from_slice(&bytes[bytes.len() - KEEP_TAIL..]);
            self.tail_start = 0;
            return;
        }
        for &b in bytes {
            if self.tail.len() < KEEP_TAIL {
                self.tail.push(b);
            } else {
                self.tail[self.tail_start] = b;
                self.tail_start = (self.tail_start + 1) % KEEP_TAIL;
            }
        }
    }

    /// Read `r` to its end into captures, a new one after each line the
    /// harness writes where a test's output starts ([`MARK`]); the first
    /// holds what came before any.
    pub fn read_segments(mut r: impl Read) -> Vec<Captured> {
        let mut segments = vec![Captured::default()];
        let mut buf = vec![0u8; 64 << 10];
        // The end of the last read, in case a mark is split across reads.
        let mut carry: Vec<u8> = Vec::new();
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            carry.extend_from_slice(&buf[..n]);
            while let Some(at) = find(&carry, MARK) {
                segments.last_mut().unwrap().push(&carry[..at]);
                segments.push(Captured::default());
                carry.drain(..at + MARK.len());
            }
            let keep = carry.len().min(MARK.len() - 1);
            let done = carry.len() - keep;
            segments.last_mut().unwrap().push(&carry[..done]);
            carry.drain(..done);
        }
        segments.last_mut().unwrap().push(&carry);
        segments
    }

    /// The text, with a line saying how much was left out in the middle.
    pub fn text(&self) -> String {
        let mut tail = self.tail[self.tail_start..].to_vec();
        tail.extend_from_slice(&self.tail[..self.tail_start]);
        let kept = (self.head.len() + tail.len()) as u64;
        let mut out = String::from_utf8_lossy(&self.head).into_owned();
        if self.total > kept {
            out.push_str(&format!(
                "\n[… {} bytes of output left out …]\n",
                self.total - kept
            ));
        }
        out.push_str(&String::from_utf8_lossy(&tail));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_split_the_output_between_tests() {
        let mut input = b"start\n".to_vec();
        input.extend_from_slice(MARK);
        input.extend_from_slice(b"first\n");
        input.extend_from_slice(MARK);
        input.extend_from_slice(b"second\n");
        // A reader that hands out three bytes at a time splits the marks.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.len().min(3).min(out.len());
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let texts: Vec<String> = Captured::read_segments(Trickle(&input))
            .iter()
            .map(Captured::text)
            .collect();
        assert_eq!(texts, ["start\n", "first\n", "second\n"]);
    }

    #[test]
    fn short_output_is_kept_whole() {
        let mut c = Captured::default();
        c.push(b"hello ");
        c.push(b"world\n");
        assert_eq!(c.text(), "hello world\n");
    }

    #[test]
    fn long_output_keeps_head_and_tail() {
        let mut c = Captured::default();
        c.push(b"START");
        for _ in 0..10_000 {
            c.push(&[b'x'; 100]);
        }
        c.push(b"END");
        let text = c.text();
        assert!(text.starts_with("START"));
        assert!(text.ends_with("END"));
        let left_out = 5 + 1_000_000 + 3 - (KEEP_HEAD + KEEP_TAIL);
        assert!(text.contains(&format!("\n[… {left_out} bytes of output left out …]\n")));
        assert!(text.len() < KEEP_HEAD + KEEP_TAIL + 100);
        // One huge write lands the same way.
        let mut c = Captured::default();
        c.push(&vec![b'y'; 1 << 20]);
        let left_out = (1 << 20) - (KEEP_HEAD + KEEP_TAIL);
        let note = format!("\n[… {left_out} bytes of output left out …]\n");
        assert_eq!(c.text().len(), KEEP_HEAD + KEEP_TAIL + note.len());
    }
}
