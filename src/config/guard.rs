//! Schema of the production guardrails: a probe's `guard` and the process-wide rate cap.

use std::time::Duration;

use serde::Deserialize;

/// When a probe stops loading a target that is failing, and how it comes back.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardConfig {
    /// Ratios over `window` above which the probe pauses.
    #[serde(default)]
    pub pause_above: PauseAboveConfig,
    /// The rolling window the ratios are measured over.
    #[serde(
        default = "default_window",
        with = "jiff::fmt::serde::unsigned_duration::friendly::compact::required"
    )]
    pub window: Duration,
    /// Fewest requests in the window before the ratios are judged.
    #[serde(default = "default_min_requests")]
    pub min_requests: u64,
    /// How long a pause lasts before the canary.
    #[serde(
        default = "default_cooldown",
        with = "jiff::fmt::serde::unsigned_duration::friendly::compact::required"
    )]
    pub cooldown: Duration,
    /// Arrivals per second while the canary runs (one `window`) before full rate resumes.
    #[serde(default = "default_canary_rate")]
    pub canary_rate: f64,
    /// Hold arrivals for as long as a 429 or 503 `Retry-After` asks (up to `cooldown`).
    #[serde(default)]
    pub respect_retry_after: bool,
}

/// Thresholds that pause a probe; an absent one never does.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PauseAboveConfig {
    /// Failed requests (throttled excluded) over requests.
    pub error_ratio: Option<f64>,
    /// Throttled (429) requests over requests.
    pub throttled_ratio: Option<f64>,
}

fn default_window() -> Duration {
    Duration::from_secs(30)
}

fn default_min_requests() -> u64 {
    20
}

fn default_cooldown() -> Duration {
    Duration::from_secs(120)
}

fn default_canary_rate() -> f64 {
    1.0
}
