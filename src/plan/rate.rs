//! `Rate`, arrivals per second: the one type every rate of the plan is held in.

use std::fmt;

/// Arrivals (or iterations) per second; always finite and 0 or more.
///
/// Zero is a rate the plan means: a stage of 0 pauses, and a burst-only load plans no
/// steady arrivals. Settings that divide by their rate or promise some traffic
/// (`load.rate`, `guard.canary_rate`, `global.max_rate`, `slo.min_rate`) are built with
/// [`Rate::positive`], so they are above zero as well.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Rate(f64);

impl Rate {
    /// No arrivals.
    pub const ZERO: Rate = Rate(0.0);

    /// A rate, if `per_second` is finite and 0 or more.
    pub fn new(per_second: f64) -> Option<Self> {
        (per_second.is_finite() && per_second >= 0.0).then_some(Self(per_second))
    }

    /// A rate, if `per_second` is finite and above 0.
    pub fn positive(per_second: f64) -> Option<Self> {
        Self::new(per_second).filter(|rate| rate.0 > 0.0)
    }

    /// Arrivals per second.
    pub fn per_second(self) -> f64 {
        self.0
    }

    /// One of `parts` equal shares, such as one replica's share of a fleet's rate (a
    /// `parts` of 0 counts as 1, so the share stays finite).
    pub fn share(self, parts: u32) -> Self {
        Self(self.0 / f64::from(parts.max(1)))
    }
}

impl std::ops::Add for Rate {
    type Output = Rate;

    /// Two finite rates of 0 or more add up to one (short of overflowing `f64`, which no
    /// configured rate comes near).
    fn add(self, other: Rate) -> Rate {
        Rate(self.0 + other.0)
    }
}

/// Written as the bare number of arrivals per second, as in the config.
impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_is_finite_and_zero_or_more_and_positive_excludes_zero() {
        assert_eq!(Rate::new(0.0), Some(Rate::ZERO));
        assert!(Rate::new(-1.0).is_none() && Rate::new(f64::NAN).is_none());
        assert!(Rate::new(f64::INFINITY).is_none());
        assert!(Rate::positive(0.0).is_none());
        assert_eq!(
            Rate::positive(3.0).map(|r| r.share(3).per_second()),
            Some(1.0)
        );
    }
}
