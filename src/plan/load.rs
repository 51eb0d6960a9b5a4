//! Building a probe's load profile: a constant rate or stages, uniform or Poisson, bursts.

use std::sync::Arc;
use std::time::Duration;

use super::Problems;
use crate::config::LoadConfig;

/// How arrivals are spaced in a run.
#[derive(Debug, Clone, Default)]
pub struct LoadProfile {
    /// A constant rate; `None` with stages or a burst-only profile.
    pub rate: Option<Rate>,
    /// Stages repeated for the length of the run (empty with a constant rate).
    pub stages: Vec<Stage>,
    /// How the rate moves between stages.
    pub ramp: Ramp,
    /// Uniform or Poisson spacing.
    pub arrivals: ArrivalProcess,
    /// Seed of the Poisson gaps.
    pub seed: Option<u64>,
    /// All-at-once arrivals.
    pub burst: Option<Burst>,
    /// Timing from a replayed log instead of a rate.
    pub replay: Option<ReplayTiming>,
}

/// When a replay's entries are sent.
#[derive(Debug, Clone)]
pub struct ReplayTiming {
    /// Each entry's logged offset.
    pub offsets: Arc<Vec<Duration>>,
    /// Divides the logged offsets (2.0 = twice as fast).
    pub speed: f64,
    /// Instead of the logged offsets, this many entries per second.
    pub rate: Option<f64>,
    /// Start over after the last entry.
    pub looped: bool,
}

/// One stage of a staged load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    /// Arrivals per second (0 pauses).
    pub rate: f64,
    /// How long it lasts (above zero).
    pub length: Duration,
}

/// How arrivals are spaced at a given rate.
pub use crate::config::ArrivalsConfig as ArrivalProcess;
/// How the rate moves between stages.
pub use crate::config::RampConfig as Ramp;

/// All-at-once arrivals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Burst {
    /// Arrivals per burst (at least 1).
    pub size: u32,
    /// Time between bursts; once per run when `None`.
    pub every: Option<Duration>,
}

/// Arrivals per second; always finite and above zero.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Rate(f64);

impl Rate {
    /// A rate, if `per_second` is finite and positive.
    pub fn new(per_second: f64) -> Option<Self> {
        (per_second.is_finite() && per_second > 0.0).then_some(Self(per_second))
    }

    /// Arrivals per second.
    pub fn per_second(self) -> f64 {
        self.0
    }
}

/// The profile of `load`, or `None` after recording what is wrong with it.
pub(super) fn build_load(
    field: &str,
    load: &LoadConfig,
    replay: bool,
    problems: &mut Problems,
) -> Option<LoadProfile> {
    let before = problems.0.len();
    if replay {
        if load.rate.is_some() || !load.stages.is_empty() || load.burst.is_some() {
            problems.add(field, "a replay takes its timing from the log (or `replay.rate`): no `rate`, `stages` or `burst`");
        }
        return (problems.0.len() == before).then(|| LoadProfile {
            seed: load.seed,
            ..LoadProfile::default()
        });
    }
    let rate = match (load.rate, load.stages.is_empty(), &load.burst) {
        (Some(rate), true, _) => {
            let parsed = Rate::new(rate);
            if parsed.is_none() {
                problems.add(
                    format!("{field}.rate"),
                    "must be a number above 0 (arrivals per second)",
                );
            }
            parsed
        }
        (Some(_), false, _) => {
            problems.add(field, "give either `rate` or `stages`, not both");
            None
        }
        (None, true, None) => {
            problems.add(field, "needs `rate`, `stages` or `burst`");
            None
        }
        (None, _, _) => None,
    };
    let stages = build_stages(field, load, problems);
    let burst = load.burst.as_ref().map(|b| {
        if b.size == 0 {
            problems.add(format!("{field}.burst.size"), "must be at least 1");
        }
        if b.every.is_some_and(|e| e.is_zero()) {
            problems.add(format!("{field}.burst.every"), "must be above zero");
        }
        Burst {
            size: b.size,
            every: b.every,
        }
    });
    (problems.0.len() == before).then_some(LoadProfile {
        rate,
        stages,
        ramp: load.ramp,
        arrivals: load.arrivals,
        seed: load.seed,
        burst,
        replay: None,
    })
}

fn build_stages(field: &str, load: &LoadConfig, problems: &mut Problems) -> Vec<Stage> {
    let mut stages = Vec::new();
    for (i, stage) in load.stages.iter().enumerate() {
        if !(stage.rate.is_finite() && stage.rate >= 0.0) {
            problems.add(
                format!("{field}.stages[{i}].rate"),
                "must be a number of 0 or more",
            );
        }
        if stage.run_for.is_zero() {
            problems.add(format!("{field}.stages[{i}].for"), "must be above zero");
        }
        stages.push(Stage {
            rate: stage.rate,
            length: stage.run_for,
        });
    }
    if !stages.is_empty() && stages.iter().all(|s| s.rate <= 0.0) {
        problems.add(
            format!("{field}.stages"),
            "at least one stage needs a rate above 0",
        );
    }
    stages
}
