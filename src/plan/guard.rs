//! A probe's guard settings: when to pause while its target is failing, checked.

use std::time::Duration;

use super::problems::{At, check_ratio};
use super::rate::Rate;
use crate::config::GuardConfig;

/// When a probe stops loading a failing target, and how it comes back (`guard.rs` runs it).
#[derive(Debug, Clone, PartialEq)]
pub struct GuardSettings {
    /// Ratios over `window` above which the probe pauses.
    pub pause_above: PauseAbove,
    /// The rolling window the ratios are measured over (above zero).
    pub window: Duration,
    /// Fewest requests in the window before the ratios are judged (at least 1).
    pub min_requests: u64,
    /// How long a pause lasts before the canary (above zero).
    pub cooldown: Duration,
    /// Arrivals per second while the canary runs (above zero, and enough to reach
    /// `min_requests` in one `window`).
    pub canary_rate: Rate,
    /// Hold arrivals for as long as a 429 or 503 `Retry-After` asks (up to `cooldown`).
    pub respect_retry_after: bool,
}

/// Thresholds that pause a probe; an absent one never does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PauseAbove {
    /// Failed requests (throttled excluded) over requests, 0–1.
    pub error_ratio: Option<f64>,
    /// Throttled (429) requests over requests, 0–1.
    pub throttled_ratio: Option<f64>,
}

/// The settings of `g`, or `None` after recording what is wrong with them.
pub(super) fn build_guard(mut at: At<'_>, g: &GuardConfig) -> Option<GuardSettings> {
    let before = at.recorded();
    let mut pause_above = at.key("pause_above");
    check_ratio(pause_above.key("error_ratio"), g.pause_above.error_ratio);
    check_ratio(
        pause_above.key("throttled_ratio"),
        g.pause_above.throttled_ratio,
    );
    for (key, value) in [("window", g.window), ("cooldown", g.cooldown)] {
        if value.is_zero() {
            at.key(key).add("must be above zero");
        }
    }
    let canary_rate = Rate::positive(g.canary_rate);
    if canary_rate.is_none() {
        at.key("canary_rate")
            .add("must be a number above 0 (arrivals per second)");
    }
    if g.min_requests == 0 {
        at.key("min_requests").add("must be at least 1");
    }
    // A canary window with fewer requests than min_requests could never trip again.
    if g.canary_rate * g.window.as_secs_f64() < g.min_requests as f64 {
        at.key("canary_rate").add(
            "canary_rate × window must reach min_requests, or a canary could never pause the probe again",
        );
    }
    if at.recorded() != before {
        return None;
    }
    Some(GuardSettings {
        pause_above: PauseAbove {
            error_ratio: g.pause_above.error_ratio,
            throttled_ratio: g.pause_above.throttled_ratio,
        },
        window: g.window,
        min_requests: g.min_requests,
        cooldown: g.cooldown,
        canary_rate: canary_rate?,
        respect_retry_after: g.respect_retry_after,
    })
}
