//! Fingerprints of probes and targets: equal exactly when a reload would run them the same
//! way, so a reload restarts only what changed.
//!
//! A fingerprint covers the configuration as written (after `${VAR}` substitution, so a
//! rotated secret counts as a change) plus what the configuration points to and load reads:
//! CA files, feeder rows, replayed log entries. It is a hash kept in memory only; secrets
//! never leave it.

use std::fmt::{self, Debug, Write as _};
use std::hash::{DefaultHasher, Hash, Hasher};

/// Accumulates a fingerprint; `Debug` output is streamed into the hash, never kept whole.
#[derive(Debug, Default)]
pub(super) struct Fingerprint(DefaultHasher);

impl Fingerprint {
    /// Adds `value`'s `Debug` form.
    pub(super) fn debug(mut self, value: &impl Debug) -> Self {
        // Writing into a hasher cannot fail.
        let _ = write!(self, "{value:?}\u{0}");
        self
    }

    /// Adds a hashable value.
    pub(super) fn hash(mut self, value: &impl Hash) -> Self {
        value.hash(&mut self.0);
        self
    }

    /// The fingerprint.
    pub(super) fn finish(&self) -> u64 {
        self.0.finish()
    }
}

impl fmt::Write for Fingerprint {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.write(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_inputs_give_equal_fingerprints_and_any_change_shows() {
        let a = Fingerprint::default().debug(&("rate", 50)).hash(&[1u8, 2]);
        let b = Fingerprint::default().debug(&("rate", 50)).hash(&[1u8, 2]);
        let c = Fingerprint::default().debug(&("rate", 51)).hash(&[1u8, 2]);
        assert_eq!(a.finish(), b.finish());
        assert_ne!(a.finish(), c.finish());
    }
}
