//! A probe's load profile: the load models (constant rate, stages, bursts alone, replayed
//! timing) and building one from the config.

use std::sync::Arc;
use std::time::Duration;

use super::problems::At;
use super::rate::Rate;
use crate::config::LoadConfig;

/// How arrivals are spaced in a run: the load model and the seed of its randomness.
#[derive(Debug, Clone)]
pub struct LoadProfile {
    /// The shape of the load.
    pub model: LoadModel,
    /// Seed of the Poisson gaps (random when absent); kept whatever the model, since a
    /// fingerprint or a later model may use it.
    pub seed: Option<u64>,
}

/// The shape of a probe's load: each variant holds exactly the settings that shape it, so
/// the arrival maths matches on the variant instead of working out which fields are set.
///
/// Adding a load model (the closed-model `concurrency` and `capacity` are next):
/// 1. Add its keys to `config/load.rs` and document them in `docs/configuration.md` (and
///    the model in `docs/concepts.md`).
/// 2. Add a variant here holding only what shapes it (a [`Burst`] only where bursts apply),
///    with its units in types ([`Rate`], `Duration`).
/// 3. Build it in [`build_load`]: which keys select it, and each rule with a fixture under
///    `tests/testdata/invalid/` and a row in `tests/config.rs`.
/// 4. Give it arrivals in `arrival.rs`: `mean_rate` and `Arrivals::new` match on the model,
///    so the compiler points at both. Test its offsets as pure data in `arrival/tests.rs`.
/// 5. Add an example under `config/examples/` (every one is loaded by a test).
#[derive(Debug, Clone)]
pub enum LoadModel {
    /// A constant rate (`load.rate`), with optional bursts on top.
    Constant {
        /// Arrivals per second of the whole fleet (above zero).
        rate: Rate,
        /// Uniform or Poisson spacing.
        arrivals: ArrivalProcess,
        /// All-at-once arrivals on top of the rate.
        burst: Option<Burst>,
    },
    /// Stages repeated for the length of the run (`load.stages`), with optional bursts.
    Stages {
        /// The stages of one cycle, in order (at least one has a rate above zero).
        stages: Vec<Stage>,
        /// How the rate moves between stages.
        ramp: Ramp,
        /// Uniform or Poisson spacing.
        arrivals: ArrivalProcess,
        /// All-at-once arrivals on top of the stages.
        burst: Option<Burst>,
    },
    /// Bursts alone, with no steady rate.
    Burst(Burst),
    /// Timing from a replayed access log instead of a rate.
    Replay(ReplayTiming),
}

impl LoadModel {
    /// The bursts of this model, where it has them.
    pub fn burst(&self) -> Option<&Burst> {
        match self {
            LoadModel::Constant { burst, .. } | LoadModel::Stages { burst, .. } => burst.as_ref(),
            LoadModel::Burst(burst) => Some(burst),
            LoadModel::Replay(_) => None,
        }
    }
}

/// When a replay's entries are sent.
#[derive(Debug, Clone)]
pub struct ReplayTiming {
    /// Each entry's logged offset.
    pub offsets: Arc<Vec<Duration>>,
    /// Divides the logged offsets (2.0 = twice as fast).
    pub speed: f64,
    /// Instead of the logged offsets, this many entries per second (above zero).
    pub rate: Option<Rate>,
    /// Start over after the last entry.
    pub looped: bool,
}

/// One stage of a staged load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    /// Arrivals per second (0 pauses).
    pub rate: Rate,
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
    /// Time between bursts (above zero); once per run when `None`.
    pub every: Option<Duration>,
}

/// The model of `load`, or `None` after recording what is wrong with it. A replay probe's
/// load is checked by [`check_replay_load`] instead: its model comes from the log.
pub(super) fn build_load(mut at: At<'_>, load: &LoadConfig) -> Option<LoadModel> {
    let before = at.recorded();
    let rate = match (load.rate, load.stages.is_empty(), &load.burst) {
        (Some(rate), true, _) => {
            let parsed = Rate::positive(rate);
            if parsed.is_none() {
                at.key("rate")
                    .add("must be a number above 0 (arrivals per second)");
            }
            parsed
        }
        (Some(_), false, _) => {
            at.add("give either `rate` or `stages`, not both");
            None
        }
        (None, true, None) => {
            at.add("needs `rate`, `stages` or `burst`");
            None
        }
        (None, _, _) => None,
    };
    let stages = build_stages(at.reborrow(), load);
    let burst = load.burst.as_ref().map(|b| {
        let mut at = at.key("burst");
        if b.size == 0 {
            at.key("size").add("must be at least 1");
        }
        if b.every.is_some_and(|e| e.is_zero()) {
            at.key("every").add("must be above zero");
        }
        Burst {
            size: b.size,
            every: b.every,
        }
    });
    if at.recorded() != before {
        return None;
    }
    let arrivals = load.arrivals;
    match (rate, burst) {
        (Some(rate), burst) => Some(LoadModel::Constant {
            rate,
            arrivals,
            burst,
        }),
        (None, burst) if !stages.is_empty() => Some(LoadModel::Stages {
            stages,
            ramp: load.ramp,
            arrivals,
            burst,
        }),
        (None, Some(burst)) => Some(LoadModel::Burst(burst)),
        // Recorded above: no `rate`, `stages` or `burst`.
        (None, None) => None,
    }
}

/// Records a replay probe's `load` that sets a shape of its own.
pub(super) fn check_replay_load(mut at: At<'_>, load: &LoadConfig) {
    if load.rate.is_some() || !load.stages.is_empty() || load.burst.is_some() {
        at.add("a replay takes its timing from the log (or `replay.rate`): no `rate`, `stages` or `burst`");
    }
}

/// The stages of `load` (an invalid one is left out, after recording why).
fn build_stages(mut at: At<'_>, load: &LoadConfig) -> Vec<Stage> {
    let mut stages = Vec::new();
    for (i, stage) in load.stages.iter().enumerate() {
        let mut at = at.index("stages", i);
        let rate = Rate::new(stage.rate);
        if rate.is_none() {
            at.key("rate").add("must be a number of 0 or more");
        }
        if stage.run_for.is_zero() {
            at.key("for").add("must be above zero");
        }
        if let Some(rate) = rate {
            stages.push(Stage {
                rate,
                length: stage.run_for,
            });
        }
    }
    // Judged on the values as written, so a negative rate also counts as no rate.
    if !load.stages.is_empty() && load.stages.iter().all(|s| s.rate <= 0.0) {
        at.key("stages")
            .add("at least one stage needs a rate above 0");
    }
    stages
}
