//! What a test printed: the runtime's stdout and stderr share one pipe, so
//! lines keep their order, and the capture keeps the head and the tail and
//! counts what it dropped between them, so a test printing 100 MB costs the
//! runner a bounded amount of memory and the report a readable amount.

use std::io::Read;

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

    /// Read `r` to its end into a capture.
    pub fn read_from(mut r: impl Read) -> Captured {
        let mut c = Captured::default();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => c.push(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        c
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
