//! The byte-level JSON reader under the snapshot parser: its own buffer,
//! offsets for error messages, and fast paths for integer arrays and strings.

use std::io::Read;

use super::parse::{ParseError, Result};

/// A byte reader with its own buffer, tracking the offset for errors.
pub(super) struct Parser<R> {
    reader: R,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    consumed: u64,
}

const BUF_SIZE: usize = 256 * 1024;

impl<R: Read> Parser<R> {
    pub(super) fn new(reader: R) -> Self {
        Parser {
            reader,
            buf: vec![0; BUF_SIZE].into_boxed_slice(),
            pos: 0,
            len: 0,
            consumed: 0,
        }
    }

    pub(super) fn offset(&self) -> u64 {
        self.consumed + self.pos as u64
    }

    /// Refill the buffer; false at the end of input.
    #[cold]
    fn refill(&mut self) -> Result<bool> {
        self.consumed += self.len as u64;
        self.pos = 0;
        self.len = 0;
        loop {
            match self.reader.read(&mut self.buf) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.len = n;
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    #[inline]
    pub(super) fn peek(&mut self, context: &'static str) -> Result<u8> {
        if self.pos == self.len && !self.refill()? {
            return Err(ParseError::Truncated {
                offset: self.offset(),
                context,
            });
        }
        Ok(self.buf[self.pos])
    }

    #[inline]
    pub(super) fn bump(&mut self) {
        self.pos += 1;
    }

    #[inline]
    pub(super) fn next(&mut self, context: &'static str) -> Result<u8> {
        let b = self.peek(context)?;
        self.pos += 1;
        Ok(b)
    }

    pub(super) fn peek_non_ws(&mut self, context: &'static str) -> Result<u8> {
        loop {
            let b = self.peek(context)?;
            if !b.is_ascii_whitespace() {
                return Ok(b);
            }
            self.pos += 1;
        }
    }

    pub(super) fn next_non_ws(&mut self, context: &'static str) -> Result<u8> {
        let b = self.peek_non_ws(context)?;
        self.pos += 1;
        Ok(b)
    }

    pub(super) fn unexpected(&self, found: u8, expected: &'static str) -> ParseError {
        let found = if found.is_ascii_graphic() {
            format!("`{}`", found as char)
        } else {
            format!("byte 0x{found:02x}")
        };
        ParseError::Unexpected {
            offset: self.offset().saturating_sub(1),
            found,
            expected,
        }
    }

    pub(super) fn expect(&mut self, want: u8, expected: &'static str) -> Result<()> {
        let b = self.next_non_ws(expected)?;
        if b == want {
            Ok(())
        } else {
            Err(self.unexpected(b, expected))
        }
    }

    pub(super) fn string(&mut self, context: &'static str) -> Result<String> {
        let mut buf = Vec::new();
        self.string_into(&mut buf, context)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// Read a JSON string (after optional whitespace), unescaped, into `out`.
    pub(super) fn string_into(&mut self, out: &mut Vec<u8>, context: &'static str) -> Result<()> {
        self.expect(b'"', context)?;
        loop {
            // Copy the run of plain bytes in the buffer at once.
            let start = self.pos;
            let run = self.buf[start..self.len]
                .iter()
                .position(|&b| b == b'"' || b == b'\\');
            match run {
                Some(k) => {
                    out.extend_from_slice(&self.buf[start..start + k]);
                    self.pos = start + k;
                }
                None => {
                    out.extend_from_slice(&self.buf[start..self.len]);
                    self.pos = self.len;
                    self.peek(context)?;
                    continue;
                }
            }
            match self.next(context)? {
                b'"' => return Ok(()),
                _ => self.escape(out, context)?,
            }
        }
    }

    fn escape(&mut self, out: &mut Vec<u8>, context: &'static str) -> Result<()> {
        let c = match self.next(context)? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = self.hex4(context)?;
                if (0xD800..0xDC00).contains(&hi) {
                    // A high surrogate: pair it with the low one if it follows.
                    if self.peek(context)? == b'\\' {
                        self.bump();
                        if self.next(context)? != b'u' {
                            return Err(self.unexpected(b'\\', "`\\u` after a high surrogate"));
                        }
                        let lo = self.hex4(context)?;
                        if (0xDC00..0xE000).contains(&lo) {
                            let code = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                            char::from_u32(code).unwrap_or('\u{FFFD}')
                        } else {
                            push_char(out, '\u{FFFD}');
                            char::from_u32(lo).unwrap_or('\u{FFFD}')
                        }
                    } else {
                        '\u{FFFD}'
                    }
                } else {
                    char::from_u32(hi).unwrap_or('\u{FFFD}')
                }
            }
            other => return Err(self.unexpected(other, "a JSON escape")),
        };
        push_char(out, c);
        Ok(())
    }

    fn hex4(&mut self, context: &'static str) -> Result<u32> {
        let mut v = 0;
        for _ in 0..4 {
            let b = self.next(context)?;
            let d = (b as char)
                .to_digit(16)
                .ok_or_else(|| self.unexpected(b, "a hex digit in `\\u` escape"))?;
            v = v * 16 + d;
        }
        Ok(v)
    }

    /// Read an array of unsigned integers, calling `sink` for each.
    pub(super) fn numbers(
        &mut self,
        context: &'static str,
        mut sink: impl FnMut(u64),
    ) -> Result<()> {
        self.expect(b'[', "`[` to open a number array")?;
        if self.peek_non_ws(context)? == b']' {
            self.bump();
            return Ok(());
        }
        loop {
            let mut b = self.peek_non_ws(context)?;
            if !b.is_ascii_digit() {
                self.bump();
                return Err(self.unexpected(b, "an unsigned integer"));
            }
            let mut v: u64 = 0;
            let mut digits = 0u32;
            loop {
                // Fast path over the digits in the buffer: up to 19 digits
                // cannot overflow, so only longer numbers are checked.
                while self.pos < self.len {
                    b = self.buf[self.pos];
                    if !b.is_ascii_digit() {
                        break;
                    }
                    let d = (b - b'0') as u64;
                    v = if digits < 19 {
                        v * 10 + d
                    } else {
                        v.checked_mul(10)
                            .and_then(|v| v.checked_add(d))
                            .ok_or_else(|| {
                                ParseError::Inconsistent(format!(
                                    "a number in `{context}` is too large"
                                ))
                            })?
                    };
                    digits += 1;
                    self.pos += 1;
                }
                if self.pos < self.len {
                    break;
                }
                if !self.refill()? {
                    return Err(ParseError::Truncated {
                        offset: self.offset(),
                        context,
                    });
                }
            }
            sink(v);
            // Most numbers are followed by a comma: no whitespace to skip.
            if b == b',' && self.pos < self.len {
                self.pos += 1;
                continue;
            }
            match self.next_non_ws(context)? {
                b',' => continue,
                b']' => return Ok(()),
                other => return Err(self.unexpected(other, "`,` or `]` in a number array")),
            }
        }
    }

    /// Copy the bytes of one JSON object (the `snapshot` header).
    pub(super) fn raw_object(&mut self) -> Result<Vec<u8>> {
        if self.peek_non_ws("`snapshot`")? != b'{' {
            let b = self.next("`snapshot`")?;
            return Err(self.unexpected(b, "`{` to open `snapshot`"));
        }
        self.raw_value()
    }

    /// Copy the bytes of one JSON object or array.
    pub(super) fn raw_value(&mut self) -> Result<Vec<u8>> {
        const CONTEXT: &str = "an object or array";
        if !matches!(self.peek_non_ws(CONTEXT)?, b'{' | b'[') {
            let b = self.next(CONTEXT)?;
            return Err(self.unexpected(b, "`{` or `[`"));
        }
        let mut out = Vec::new();
        let mut depth = 0usize;
        let mut in_string = false;
        loop {
            let b = self.next(CONTEXT)?;
            out.push(b);
            if in_string {
                match b {
                    b'\\' => out.push(self.next(CONTEXT)?),
                    b'"' => in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(out);
                    }
                }
                _ => {}
            }
            if out.len() > 16 << 20 {
                return Err(ParseError::Meta(
                    "the `snapshot` header is over 16 MiB".into(),
                ));
            }
        }
    }

    /// Skip any JSON value.
    pub(super) fn skip_value(&mut self) -> Result<()> {
        const CONTEXT: &str = "a value";
        let mut depth = 0usize;
        loop {
            let b = self.next_non_ws(CONTEXT)?;
            match b {
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    if depth == 0 {
                        return Err(self.unexpected(b, "a value"));
                    }
                    depth -= 1;
                }
                b'"' => {
                    self.pos -= 1;
                    let mut sink = Vec::new();
                    self.string_into(&mut sink, CONTEXT)?;
                }
                b',' | b':' if depth > 0 => {}
                _ if b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'+' => {
                    while let Ok(c) = self.peek(CONTEXT) {
                        if c.is_ascii_alphanumeric() || c == b'-' || c == b'.' || c == b'+' {
                            self.bump();
                        } else {
                            break;
                        }
                    }
                }
                _ => return Err(self.unexpected(b, "a value")),
            }
            if depth == 0 {
                return Ok(());
            }
        }
    }
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut tmp = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
}
