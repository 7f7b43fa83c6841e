//! Byte sizes and tolerances as users write them: `512`, `"512 B"`,
//! `"64 KiB"`, `"1.5 MB"`, `"5%"`.

use std::fmt;

use serde::Deserialize;

/// Parse a byte size: a number of bytes, or a number with a unit
/// (B, kB/KB, MB, GB in powers of 1000; KiB, MiB, GiB in powers of 1024).
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number.replace('_', "").parse().map_err(|_| {
        format!("`{text}` is not a size: write a number of bytes or e.g. \"64 KiB\"")
    })?;
    let factor: f64 = match unit.trim() {
        "" | "B" | "b" => 1.0,
        "kB" | "KB" | "k" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`: use B, kB, MB, GB, KiB, MiB or GiB"
            ));
        }
    };
    let bytes = number * factor;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(format!("`{text}` is out of range"));
    }
    Ok(bytes.round() as u64)
}

/// Format bytes for people: `512 B`, `1.50 KiB`, `12.3 MiB`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.2} {}", UNITS[unit])
}

/// A size as written in `memcheck.toml` or a test's budget: a number or a
/// string with a unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Bytes(pub u64);

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(BytesVisitor)
    }
}

struct BytesVisitor;

impl serde::de::Visitor<'_> for BytesVisitor {
    type Value = Bytes;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a size: a number of bytes, or a string like \"64 KiB\"")
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Bytes, E> {
        Ok(Bytes(n))
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Bytes, E> {
        u64::try_from(n)
            .map(Bytes)
            .map_err(|_| E::custom(format!("`{n}` is not a size: sizes cannot be negative")))
    }

    fn visit_f64<E: serde::de::Error>(self, f: f64) -> Result<Bytes, E> {
        if f >= 0.0 && f.is_finite() {
            Ok(Bytes(f.round() as u64))
        } else {
            Err(E::custom(format!("`{f}` is not a size")))
        }
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Bytes, E> {
        parse_bytes(s).map(Bytes).map_err(E::custom)
    }
}

/// How far a figure may move from its baseline: absolute or a percentage.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Slack {
    Absolute(u64),
    Percent(f64),
}

impl Default for Slack {
    fn default() -> Self {
        Slack::Absolute(0)
    }
}

impl Slack {
    /// The largest value that `baseline` may grow to.
    pub fn limit(self, baseline: u64) -> u64 {
        match self {
            Slack::Absolute(n) => baseline.saturating_add(n),
            Slack::Percent(p) => {
                baseline.saturating_add((baseline as f64 * p / 100.0).floor() as u64)
            }
        }
    }

    pub fn parse(text: &str, sizes: bool) -> Result<Slack, String> {
        let t = text.trim();
        if let Some(p) = t.strip_suffix('%') {
            let p: f64 = p
                .trim()
                .parse()
                .map_err(|_| format!("`{text}` is not a percentage"))?;
            if !(0.0..=10_000.0).contains(&p) {
                return Err(format!("`{text}` is out of range (0% to 10000%)"));
            }
            return Ok(Slack::Percent(p));
        }
        if sizes {
            parse_bytes(t)
                .map(Slack::Absolute)
                .map_err(|e| format!("{e}, or a percentage like \"5%\""))
        } else {
            t.parse()
                .map(Slack::Absolute)
                .map_err(|_| format!("`{text}` is not a count or a percentage like \"5%\""))
        }
    }
}

impl fmt::Display for Slack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Slack::Absolute(n) => write!(f, "{n}"),
            Slack::Percent(p) => write!(f, "{p}%"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_with_units() {
        assert_eq!(parse_bytes("512"), Ok(512));
        assert_eq!(parse_bytes("512 B"), Ok(512));
        assert_eq!(parse_bytes("64 KiB"), Ok(65536));
        assert_eq!(parse_bytes("1.5 MB"), Ok(1_500_000));
        assert_eq!(parse_bytes("2MiB"), Ok(2 * 1024 * 1024));
        assert!(
            parse_bytes("12 parsecs")
                .unwrap_err()
                .contains("unknown unit `parsecs`")
        );
        assert!(parse_bytes("lots").is_err());
    }

    #[test]
    fn slack_limits() {
        assert_eq!(Slack::parse("5%", false).unwrap().limit(200), 210);
        assert_eq!(Slack::parse("3", false).unwrap().limit(200), 203);
        assert_eq!(Slack::parse("1 KiB", true).unwrap().limit(0), 1024);
        assert!(Slack::parse("1 KiB", false).is_err());
    }

    #[test]
    fn formats_bytes() {
        assert_eq!(format_bytes(12), "12 B");
        assert_eq!(format_bytes(1536), "1.50 KiB");
        assert_eq!(format_bytes(3 * 1024 * 1024), "3.00 MiB");
    }
}
