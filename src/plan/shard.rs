//! Splitting the load across replicas: `--shard=i/N` makes this replica send every N-th of
//! each probe's arrivals, so a fleet of N delivers the configured rate.

use std::fmt;
use std::str::FromStr;

/// This replica's place in a fleet of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 0-based index of this replica.
    pub index: u32,
    /// Replicas in the fleet (at least 1).
    pub count: u32,
}

impl Shard {
    /// A single replica sending everything.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// The fleet-wide number of this replica's `iteration`-th iteration: replicas take
    /// turns, so data rows, scenario picks and replayed entries are split like arrivals.
    pub fn fleet_iteration(self, iteration: u64) -> u64 {
        iteration * u64::from(self.count) + u64::from(self.index)
    }

    /// Parses `i/N`, where `i` may be `ordinal`: the trailing `-<n>` of `hostname` (a
    /// StatefulSet pod's name, such as `loadprobe-2`).
    pub fn parse(text: &str, hostname: &str) -> Result<Self, ShardError> {
        let invalid = || ShardError::Syntax(text.to_owned());
        let (index, count) = text.split_once('/').ok_or_else(invalid)?;
        let count: u32 = count.trim().parse().map_err(|_| invalid())?;
        let index: u32 = match index.trim() {
            "ordinal" => hostname
                .rsplit_once('-')
                .and_then(|(_, n)| n.trim().parse().ok())
                .ok_or_else(|| ShardError::NoOrdinal(hostname.to_owned()))?,
            index => index.parse().map_err(|_| invalid())?,
        };
        if count == 0 || index >= count {
            return Err(ShardError::OutOfRange { index, count });
        }
        Ok(Shard { index, count })
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(text: &str) -> Result<Self, ShardError> {
        let hostname = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
            .unwrap_or_default();
        Shard::parse(text, hostname.trim())
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Why a shard could not be parsed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ShardError {
    /// Not of the form `i/N`.
    #[error("`{0}` is not a shard: write i/N (0 <= i < N), or ordinal/N")]
    Syntax(String),
    /// `ordinal` was asked for but the hostname has no `-<n>` suffix.
    #[error("hostname `{0}` has no -<n> ordinal suffix (is this a StatefulSet pod?)")]
    NoOrdinal(String),
    /// `i` is not below `N`, or `N` is zero.
    #[error("shard {index}/{count}: need 0 <= i < N and N >= 1")]
    OutOfRange {
        /// The index given.
        index: u32,
        /// The count given.
        count: u32,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_explicit_and_ordinal_shards() {
        assert_eq!(Shard::parse("1/3", "x"), Ok(Shard { index: 1, count: 3 }));
        assert_eq!(
            Shard::parse("ordinal/3", "loadprobe-2"),
            Ok(Shard { index: 2, count: 3 })
        );
        assert_eq!(
            Shard::parse("ordinal/3", "web"),
            Err(ShardError::NoOrdinal("web".into()))
        );
        assert_eq!(
            Shard::parse("3/3", "x"),
            Err(ShardError::OutOfRange { index: 3, count: 3 })
        );
        assert!(matches!(
            Shard::parse("a/b", "x"),
            Err(ShardError::Syntax(_))
        ));
    }
}
