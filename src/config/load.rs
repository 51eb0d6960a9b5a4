//! Schema of a probe's load: rate or stages, uniform or Poisson arrivals, bursts.

use std::time::Duration;

use serde::Deserialize;

/// How arrivals are spaced within a run.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadConfig {
    /// Arrivals per second (open model: independent of how fast the target answers).
    #[serde(default)]
    pub rate: Option<f64>,
    /// Rates that follow each other, repeated for the length of the run (instead of `rate`).
    #[serde(default)]
    pub stages: Vec<StageConfig>,
    /// How the rate moves from one stage to the next.
    #[serde(default)]
    pub ramp: RampConfig,
    /// How arrivals are spaced at a given rate.
    #[serde(default)]
    pub arrivals: ArrivalsConfig,
    /// Seed of the Poisson gaps, for repeatable runs (random when absent).
    #[serde(default)]
    pub seed: Option<u64>,
    /// All-at-once arrivals on top of the rate (or alone).
    #[serde(default)]
    pub burst: Option<BurstConfig>,
    /// Iterations allowed in flight at once; arrivals beyond it are dropped and counted.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
}

/// One stage of a staged load.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    /// Arrivals per second in this stage (0 pauses).
    pub rate: f64,
    /// How long the stage lasts.
    #[serde(
        rename = "for",
        with = "jiff::fmt::serde::unsigned_duration::friendly::compact::required"
    )]
    pub run_for: Duration,
}

/// How the rate moves between stages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RampConfig {
    /// Jump to each stage's rate.
    #[default]
    Step,
    /// Move linearly from the previous stage's rate (0 before the first) to this one's.
    Linear,
}

/// How arrivals are spaced at a given rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArrivalsConfig {
    /// Evenly: `1/rate` apart.
    #[default]
    Uniform,
    /// Exponential gaps (a Poisson process), as independent users arrive.
    Poisson,
}

/// All-at-once arrivals.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurstConfig {
    /// Arrivals in one burst.
    pub size: u32,
    /// Time between bursts; one burst at the start of each run when absent.
    #[serde(
        default,
        with = "jiff::fmt::serde::unsigned_duration::friendly::compact::optional"
    )]
    pub every: Option<Duration>,
}

impl Default for LoadConfig {
    fn default() -> Self {
        Self {
            rate: None,
            stages: Vec::new(),
            ramp: RampConfig::default(),
            arrivals: ArrivalsConfig::default(),
            seed: None,
            burst: None,
            max_in_flight: default_max_in_flight(),
        }
    }
}

fn default_max_in_flight() -> usize {
    100
}
