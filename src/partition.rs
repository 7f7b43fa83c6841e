//! `--partition`: one shard of the selected tests, as cargo-nextest splits
//! a suite across machines. `hash:M/N` puts a test on shard M by a stable
//! hash of its full name, so that adding tests never moves the others (and
//! a test file's baseline entries keep landing on the same shard);
//! `count:M/N` deals the selected tests round-robin, in order. Shards are
//! numbered from 1; the partition applies after the filters.

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Partition {
    Hash { shard: u64, total: u64 },
    Count { shard: u64, total: u64 },
}

impl FromStr for Partition {
    type Err = String;

    fn from_str(s: &str) -> Result<Partition, String> {
        let usage = || {
            format!(
                "{s:?} is not a partition: write hash:M/N or count:M/N, with 1 <= M <= N (e.g. hash:1/3)"
            )
        };
        let (kind, shards) = s.split_once(':').ok_or_else(usage)?;
        let (m, n) = shards.split_once('/').ok_or_else(usage)?;
        let (shard, total): (u64, u64) = match (m.parse(), n.parse()) {
            (Ok(m), Ok(n)) if (1..=n).contains(&m) => (m, n),
            _ => return Err(usage()),
        };
        match kind {
            "hash" => Ok(Partition::Hash { shard, total }),
            "count" => Ok(Partition::Count { shard, total }),
            _ => Err(usage()),
        }
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Partition::Hash { shard, total } => write!(f, "hash:{shard}/{total}"),
            Partition::Count { shard, total } => write!(f, "count:{shard}/{total}"),
        }
    }
}

impl Partition {
    /// Which of `names` (the selected tests, in run order) are on this
    /// shard. Tests that share a name (a file's duplicate, which fails) go
    /// together.
    pub fn keep(&self, names: &[&str]) -> Vec<bool> {
        match *self {
            Partition::Hash { shard, total } => names
                .iter()
                .map(|n| stable_hash(n) % total == shard - 1)
                .collect(),
            Partition::Count { shard, total } => {
                let mut seen: Vec<&str> = Vec::new();
                names
                    .iter()
                    .map(|n| {
                        let index = seen.iter().position(|s| s == n).unwrap_or_else(|| {
                            seen.push(n);
                            seen.len() - 1
                        });
                        index as u64 % total == shard - 1
                    })
                    .collect()
            }
        }
    }
}

/// FNV-1a, 64 bits: the same on every platform, release and run.
fn stable_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses_in_words() {
        assert_eq!(
            "hash:2/3".parse(),
            Ok(Partition::Hash { shard: 2, total: 3 })
        );
        assert_eq!(
            "count:1/1".parse(),
            Ok(Partition::Count { shard: 1, total: 1 })
        );
        for bad in [
            "hash:0/3",
            "hash:4/3",
            "slice:1/2",
            "count:1",
            "hash:a/b",
            "3",
        ] {
            let err = bad.parse::<Partition>().unwrap_err();
            assert!(err.contains("hash:M/N or count:M/N"), "{err}");
        }
        assert_eq!(
            Partition::Count { shard: 1, total: 2 }.to_string(),
            "count:1/2"
        );
    }

    #[test]
    fn shards_cover_every_test_once_and_hash_is_stable() {
        let names: Vec<String> = (0..50).map(|i| format!("a.js::test {i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        for kind in ["hash", "count"] {
            let shards: Vec<Vec<bool>> = (1..=3)
                .map(|m| {
                    format!("{kind}:{m}/3")
                        .parse::<Partition>()
                        .unwrap()
                        .keep(&names)
                })
                .collect();
            for i in 0..names.len() {
                assert_eq!(shards.iter().filter(|s| s[i]).count(), 1, "{kind}: {i}");
            }
        }
        // Adding tests never moves the others under hash.
        let hash = Partition::Hash { shard: 1, total: 3 };
        let before = hash.keep(&names[..10]);
        assert_eq!(hash.keep(&names)[..10], before[..]);
        // count deals in order.
        let count = Partition::Count { shard: 2, total: 3 };
        assert_eq!(
            count.keep(&names[..6]),
            [false, true, false, false, true, false]
        );
        assert_eq!(count.keep(&["a", "a", "b"]), [false, false, true]);
    }
}
