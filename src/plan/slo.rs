//! A probe's performance targets (`slo`), checked and held with their units.

use std::time::Duration;

use super::problems::{At, check_ratio};
use super::rate::Rate;
use crate::config::SloConfig;

/// A probe's performance targets; an absent one is not judged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Slo {
    /// 95th percentile latency target (above zero).
    pub p95: Option<Duration>,
    /// 99th percentile latency target (above zero).
    pub p99: Option<Duration>,
    /// Highest acceptable fraction of failed requests (throttled excluded), 0–1.
    pub error_ratio: Option<f64>,
    /// Highest acceptable fraction of throttled (429) requests, 0–1.
    pub throttled_ratio: Option<f64>,
    /// Lowest acceptable achieved rate: iterations started per second (arrivals minus
    /// drops), above zero.
    pub min_rate: Option<Rate>,
    /// Longest acceptable time to recover after a burst (above zero).
    pub recovery: Option<Duration>,
}

/// The targets of `slo` (the default when absent), or `None` after recording what is
/// wrong with them.
pub(super) fn build_slo(mut at: At<'_>, slo: Option<&SloConfig>) -> Option<Slo> {
    let Some(slo) = slo else {
        return Some(Slo::default());
    };
    let before = at.recorded();
    check_ratio(at.key("error_ratio"), slo.error_ratio);
    check_ratio(at.key("throttled_ratio"), slo.throttled_ratio);
    let min_rate = slo.min_rate.map(Rate::positive);
    if min_rate.is_some_and(|r| r.is_none()) {
        at.key("min_rate").add("must be a number above 0");
    }
    for (key, value) in [
        ("p95", slo.p95),
        ("p99", slo.p99),
        ("recovery", slo.recovery),
    ] {
        if value.is_some_and(|d| d.is_zero()) {
            at.key(key).add("must be above zero");
        }
    }
    (at.recorded() == before).then(|| Slo {
        p95: slo.p95,
        p99: slo.p99,
        error_ratio: slo.error_ratio,
        throttled_ratio: slo.throttled_ratio,
        min_rate: min_rate.flatten(),
        recovery: slo.recovery,
    })
}
