//! A probe's performance targets (`slo`), checked and held with their units.

use std::time::Duration;

use super::rate::Rate;
use super::{Problems, check_ratio};
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
pub(super) fn build_slo(
    field: &str,
    slo: Option<&SloConfig>,
    problems: &mut Problems,
) -> Option<Slo> {
    let Some(slo) = slo else {
        return Some(Slo::default());
    };
    let before = problems.0.len();
    check_ratio(&format!("{field}.error_ratio"), slo.error_ratio, problems);
    check_ratio(
        &format!("{field}.throttled_ratio"),
        slo.throttled_ratio,
        problems,
    );
    let min_rate = slo.min_rate.map(Rate::positive);
    if min_rate.is_some_and(|r| r.is_none()) {
        problems.add(format!("{field}.min_rate"), "must be a number above 0");
    }
    for (key, value) in [
        ("p95", slo.p95),
        ("p99", slo.p99),
        ("recovery", slo.recovery),
    ] {
        if value.is_some_and(|d| d.is_zero()) {
            problems.add(format!("{field}.{key}"), "must be above zero");
        }
    }
    (problems.0.len() == before).then(|| Slo {
        p95: slo.p95,
        p99: slo.p99,
        error_ratio: slo.error_ratio,
        throttled_ratio: slo.throttled_ratio,
        min_rate: min_rate.flatten(),
        recovery: slo.recovery,
    })
}
