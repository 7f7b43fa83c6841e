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

    /// A reader placed `at` bytes into the input: offsets count from the
    /// input's start.
    pub(super) fn at(reader: R, at: u64) -> Self {
        Parser {
            consumed: at,
            ..Parser::new(reader)
        }
    }

    pub(super) fn source(&self) -> &R {
        &self.reader
    }

    pub(super) fn offset(&self) -> u64 {
        self.consumed + self.pos as u64
    }

    /// Move forward to offset `at`: within the buffer, or by `jump`, which
    /// places the reader there (false when it cannot).
    pub(super) fn skip_to(&mut self, at: u64, jump: impl FnOnce(&mut R, u64) -> bool) -> bool {
        if at < self.offset() {
            return false;
        }
        if at <= self.consumed + self.len as u64 {
            self.pos = (at - self.consumed) as usize;
            return true;
        }
        if !jump(&mut self.reader, at) {
            return false;
        }
        (self.consumed, self.pos, self.len) = (at, 0, 0);
        true
    }

    /// Move past the first `byte` ahead; false when the input ends first.
    pub(super) fn skip_past(&mut self, byte: u8) -> Result<bool> {
        loop {
            if let Some(i) = memchr::memchr(byte, &self.buf[self.pos..self.len]) {
                self.pos += i + 1;
                return Ok(true);
            }
            self.pos = self.len;
            if !self.refill()? {
                return Ok(false);
            }
        }
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
            self.comma_separated(&mut sink);
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
            if depth > 0 {
                self.skip_digits_and_commas();
            }
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

/// The bytes the block path of [`Parser::numbers`] looks at once…
const BLOCK: usize = 64;
/// …and what it reads: a number ending in the block may start up to 16
/// bytes before its end.
const BLOCK_READ: usize = BLOCK + 16;

impl<R: Read> Parser<R> {
    /// Read the numbers of the buffer that are made of 1 to 16 digits and
    /// followed by a comma, 64 bytes at a time: the commas of a block are
    /// found at once (a bit mask), then each number between two of them
    /// is converted a word at a time (SWAR), so nothing waits on the
    /// number before it and no branch depends on a digit. Stops before
    /// anything else (whitespace, `]`, a longer number, an error) for the
    /// byte-at-a-time path, and where a block no longer fits the buffer.
    #[inline]
    fn comma_separated(&mut self, sink: &mut impl FnMut(u64)) {
        while self.len - self.pos >= BLOCK_READ {
            let block: &[u8; BLOCK_READ] = self.buf[self.pos..self.pos + BLOCK_READ]
                .try_into()
                .expect("a block");
            let (mut commas, mut other) = (0u64, 0u64);
            for w in 0..BLOCK / 8 {
                let word = word_at(block, w * 8);
                let comma = bytes_equal(word, b',');
                commas |= byte_bits(comma) << (w * 8);
                other |= byte_bits(not_digit(word) & !comma) << (w * 8);
            }
            // The numbers before the first byte that is neither (all of
            // them when there is none).
            let mut ends = commas & other.wrapping_sub(1) & !other;
            if ends == 0 {
                return;
            }
            let mut start = 0;
            while ends != 0 {
                let end = ends.trailing_zeros() as usize;
                ends &= ends - 1;
                let Some(v) = digits_value(block, start, end - start) else {
                    self.pos += start;
                    return;
                };
                sink(v);
                start = end + 1;
            }
            self.pos += start;
        }
    }
}

impl<R: Read> Parser<R> {
    /// Move past the digits, commas and newlines in the buffer, eight
    /// bytes at a time: the bulk of a skipped number array (`locations`,
    /// `samples`), which [`Parser::skip_value`] would read byte by byte.
    fn skip_digits_and_commas(&mut self) {
        while self.len - self.pos >= 8 {
            let word = word_at(&self.buf, self.pos);
            let other = not_digit(word) & !bytes_equal(word, b',') & !bytes_equal(word, b'\n');
            if other != 0 {
                self.pos += (other.trailing_zeros() / 8) as usize;
                return;
            }
            self.pos += 8;
        }
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x80 * ONES;

/// The little-endian word of the 8 bytes at `at`.
#[inline]
fn word_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"))
}

/// The top bit of each byte of `word` that is not an ASCII digit. Exact
/// per byte: no carry crosses bytes.
#[inline]
fn not_digit(word: u64) -> u64 {
    // Digits become 0..=9; adding 0x76 to the low 7 bits sets the top bit
    // from 10 up, and a byte of 0x80 or more has it already.
    let x = word ^ (0x30 * ONES);
    (((x & !HIGH) + 0x76 * ONES) | x) & HIGH
}

/// The top bit of each byte of `word` that is `b`. Exact per byte.
#[inline]
fn bytes_equal(word: u64, b: u8) -> u64 {
    let x = word ^ (b as u64 * ONES);
    !(((x & !HIGH) + !HIGH) | x) & HIGH
}

/// One bit per byte (bit `i` for byte `i`) from a mask of top bits.
#[inline]
fn byte_bits(mask: u64) -> u64 {
    ((mask >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

/// The value of the `len` digits at `block[start..]`, or `None` unless
/// `len` is 1 to 16 (which cannot overflow).
#[inline]
fn digits_value(block: &[u8; BLOCK_READ], start: usize, len: usize) -> Option<u64> {
    const POW10: [u64; 9] = [
        1,
        10,
        100,
        1_000,
        10_000,
        100_000,
        1_000_000,
        10_000_000,
        100_000_000,
    ];
    match len {
        1..=8 => Some(eight_digits(word_at(block, start) << (8 * (8 - len)))),
        9..=16 => Some(
            eight_digits(word_at(block, start)) * POW10[len - 8]
                + eight_digits(word_at(block, start + 8) << (8 * (16 - len))),
        ),
        _ => None,
    }
}

/// The value of eight ASCII digits in a little-endian word, first digit in
/// the lowest byte; a zero byte reads as a leading `0`.
#[inline]
fn eight_digits(word: u64) -> u64 {
    let pairs = ((word & 0x0f00_0f00_0f00_0f00) >> 8) + (word & 0x000f_000f_000f_000f) * 10;
    let quads = ((pairs & 0x00ff_0000_00ff_0000) >> 16) + (pairs & 0x0000_00ff_0000_00ff) * 100;
    ((quads & 0x0000_ffff_0000_0000) >> 32) + (quads & 0x0000_0000_0000_ffff) * 10000
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut tmp = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::{HIGH, ONES, Parser, bytes_equal, not_digit};

    /// The numbers of `text` (a JSON array), read from a reader that
    /// hands out `step` bytes at a time.
    fn read(text: &str, step: usize) -> Result<Vec<u64>, String> {
        struct Trickle<'a>(&'a [u8], usize);
        impl std::io::Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.len().min(self.1).min(out.len());
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut out = Vec::new();
        Parser::new(Trickle(text.as_bytes(), step))
            .numbers("test", |v| out.push(v))
            .map_err(|e| e.to_string())?;
        Ok(out)
    }

    #[test]
    fn numbers_of_every_length_and_separator_read_as_one_at_a_time() {
        // Lengths 1 to 20, so that blocks end inside numbers everywhere.
        let mut values = Vec::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..3000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push(x % 10u64.pow((i % 19) as u32 + 1));
        }
        values.extend([0, u64::MAX, 10_000_000_000_000_000, 9_999_999_999_999_999]);
        let digits: Vec<String> = values.iter().map(u64::to_string).collect();
        for sep in [",", ", ", ",\n", " ,"] {
            let text = format!("[{}]", digits.join(sep));
            for step in [1, 7, 100, 1 << 20] {
                assert_eq!(read(&text, step).as_ref(), Ok(&values), "{sep:?} by {step}");
            }
        }
        assert_eq!(read("[ 007,00,1 ]", 3), Ok(vec![7, 0, 1]));
        assert_eq!(read("[]", 1), Ok(vec![]));
    }

    #[test]
    fn a_bad_number_is_an_error_wherever_it_sits() {
        let ok = vec!["12"; 40].join(",");
        for bad in ["", "-1", "1.5", "1e3", "x", "18446744073709551616"] {
            for at in [0, 5, 39] {
                let mut items = vec!["12"; 40];
                items[at] = bad;
                let text = format!("[{}]", items.join(","));
                assert!(read(&text, 1 << 20).is_err(), "{bad:?} at {at}");
            }
        }
        assert!(read(&format!("[{ok}"), 1 << 20).is_err(), "unterminated");
    }

    #[test]
    fn byte_masks_are_exact_next_to_any_byte() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let word = u64::from_le_bytes([a, b, b'7', a, b, b',', 0xff, b'0']);
                let expect = |f: &dyn Fn(u8) -> bool| {
                    word.to_le_bytes()
                        .iter()
                        .enumerate()
                        .filter(|(_, c)| f(**c))
                        .fold(0, |m, (i, _)| m | 0x80 << (8 * i))
                };
                assert_eq!(not_digit(word), expect(&|c| !c.is_ascii_digit()));
                assert_eq!(bytes_equal(word, b','), expect(&|c| c == b','));
            }
        }
        assert_eq!(not_digit(0x30 * ONES), 0);
        assert_eq!(bytes_equal(b',' as u64 * ONES, b','), HIGH);
    }
}
